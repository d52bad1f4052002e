"""Signing requests exactly as Twilio does, with the official library."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    return RequestValidator(auth_token).compute_signature(url, params)


def event_streams_signature(sink_url: str, body: str, auth_token: str) -> tuple[str, str]:
    """(the URL Event Streams posts to, its X-Twilio-Signature) for a JSON body: the body's
    SHA-256 appended as `bodySHA256`, the URL signed with no parameters."""
    validator = RequestValidator(auth_token)
    separator = "&" if "?" in sink_url else "?"
    url = f"{sink_url}{separator}bodySHA256={validator.compute_hash(body)}"
    return url, validator.compute_signature(url, {})
