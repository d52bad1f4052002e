"""Signing requests exactly as Twilio does, with the official library."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    return RequestValidator(auth_token).compute_signature(url, params)
