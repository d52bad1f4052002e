"""Event Streams resources in the shapes of Twilio's OpenAPI description (twilio_events_v1.json)."""

from __future__ import annotations

from ..clock import iso
from .catalogue import EventType, dataschema
from .model import EV, Sink, Subscription


def sink_json(sink: Sink) -> dict:
    url = f"{EV}/v1/Sinks/{sink.sid}"
    return {
        "date_created": iso(sink.date_created),
        "date_updated": iso(sink.date_updated),
        "description": sink.description,
        "sid": sink.sid,
        "sink_configuration": sink.configuration,
        "sink_type": sink.sink_type,
        "status": sink.status,
        "url": url,
        "links": {"sink_test": f"{url}/Test", "sink_validate": f"{url}/Validate"},
    }


def subscription_json(account_sid: str, sub: Subscription) -> dict:
    url = f"{EV}/v1/Subscriptions/{sub.sid}"
    return {
        "account_sid": account_sid,
        "sid": sub.sid,
        "date_created": iso(sub.date_created),
        "date_updated": iso(sub.date_updated),
        "description": sub.description,
        "sink_sid": sub.sink_sid,
        "url": url,
        "links": {"subscribed_events": f"{url}/SubscribedEvents"},
    }


def subscribed_event_json(account_sid: str, sub: Subscription, event_type: str) -> dict:
    return {
        "account_sid": account_sid,
        "type": event_type,
        "schema_version": sub.types[event_type],
        "subscription_sid": sub.sid,
        "url": f"{EV}/v1/Subscriptions/{sub.sid}/SubscribedEvents/{event_type}",
    }


def event_type_json(event_type: EventType, created: str) -> dict:
    return {
        "type": event_type.type,
        "schema_id": event_type.schema_id,
        "date_created": created,
        "date_updated": created,
        "description": event_type.description,
        "status": "available",
        "documentation_url": event_type.documentation_url,
        "url": f"{EV}/v1/Types/{event_type.type}",
        "links": {"schema": f"{EV}/v1/Schemas/{event_type.schema_id}/Versions"},
    }


def schema_json(schema_id: str, latest: int, created: str) -> dict:
    url = f"{EV}/v1/Schemas/{schema_id}"
    return {
        "id": schema_id,
        "url": url,
        "links": {"versions": f"{url}/Versions"},
        "latest_version_date_created": created,
        "latest_version": latest,
    }


def schema_version_json(schema_id: str, version: int, created: str) -> dict:
    return {
        "id": schema_id,
        "schema_version": version,
        "date_created": created,
        "url": f"{EV}/v1/Schemas/{schema_id}/Versions/{version}",
        "raw": dataschema(schema_id, version),
    }
