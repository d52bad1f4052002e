"""Event Streams resources: sinks and the subscriptions that send event types to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

EV = "https://events.twilio.com"


@dataclass
class Sink:
    sid: str
    description: str
    sink_type: str  # webhook | kinesis | segment | email
    configuration: dict[str, Any]
    status: str  # initialized | validating | active | failed
    date_created: float
    date_updated: float
    last_test_id: str | None = None

    @property
    def destination(self) -> str:
        return str(self.configuration.get("destination", ""))

    @property
    def batch_events(self) -> bool:
        return bool(self.configuration.get("batch_events", False))

    @property
    def delivers(self) -> bool:
        """Webhook sinks that are active get events (the other sink types are not modelled)."""
        return self.sink_type == "webhook" and self.status == "active"


@dataclass
class Subscription:
    sid: str
    description: str
    sink_sid: str
    date_created: float
    date_updated: float
    types: dict[str, int] = field(default_factory=dict)  # event type -> schema version


def valid_destination(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
