"""The Flask receiver: Twilio's webhooks in, Celery tasks out.

The package imports nothing heavy on its own: `chat-transfer web` imports `webhooks.server`
before it sets PROMETHEUS_MULTIPROC_DIR, and `prometheus_client` (imported with the app's
modules) picks single- or multi-process counters once, when it is first imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Flask:
    from webhooks.app import create_app as build

    return build(*args, **kwargs)
