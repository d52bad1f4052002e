"""The Flask receiver: Twilio's webhooks in, Celery tasks out."""

from webhooks.app import create_app

__all__ = ["create_app"]
