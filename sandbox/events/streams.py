"""Event Streams (`EventStreams`): sinks, subscriptions, and the events they carry.

A subscriber to TaskRouter's `EventPublished` and Conversations' `ConversationsEvent`: each event
of a type some subscription names becomes a CloudEvent (at the subscribed schema version) waiting
for its sink; on every `Tick` the waiting events of each sink go out in batches through the outlet
(`SinkDeliverer.enqueue`), which signs, sends and retries them. Faults as for the callback:
`stream_shuffle` sends a flush's events in a random order, `stream_duplicate_rate` sends an event
once more in a later batch (Event Streams guarantees at-least-once delivery, not order;
https://www.twilio.com/docs/events/event-delivery-and-duplication).

Choices where the docs are silent: Conversations changes made through the REST API are streamed
whether or not the request carried `X-Twilio-Webhook-Enabled` (a header of the webhooks); a webhook
sink is `active` once created (the Webhook Quickstart subscribes right after creating one, with no
validation step); a sink that a subscription uses cannot be deleted (400).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..conversations import ConversationsEvent
from ..core import Core, Tick
from ..errors import NOT_MODELLED, TwilioError, bad_request, not_found
from ..faults import Faults
from ..taskrouter import EventPublished
from .catalogue import EVENT_TYPES, LATEST_VERSIONS
from .cloudevents import conversations_cloudevent, conversations_type, envelope, taskrouter_cloudevent
from .model import Sink, Subscription, valid_destination

SINK_TYPES = ("kinesis", "webhook", "segment", "email")
Outlet = Callable[[Sink, list[dict[str, Any]]], object]
Forget = Callable[[str], None]


class EventStreams:
    def __init__(
        self,
        core: Core,
        outlet: Outlet,
        faults: Faults,
        *,
        forget: Forget = lambda _sid: None,
        batch_size: int = 20,
    ) -> None:
        self.core = core
        self.outlet = outlet
        self.forget = forget
        self.faults = faults
        self.batch_size = batch_size
        self.sinks: dict[str, Sink] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._waiting: dict[str, list[dict[str, Any]]] = {}  # sink sid -> CloudEvents to send
        self._again: dict[str, list[dict[str, Any]]] = {}  # duplicates, for a later flush
        self.streamed: list[dict[str, Any]] = []  # every CloudEvent made, in order
        core.register(self)
        core.subscribe(EventPublished, self.on_taskrouter_event)
        core.subscribe(ConversationsEvent, self.on_conversations_event)
        core.subscribe(Tick, lambda _tick: self.flush())

    # ---- sinks ---------------------------------------------------------------------------------
    def create_sink(self, description: str, configuration: str, sink_type: str) -> Sink:
        if sink_type not in SINK_TYPES:
            raise bad_request(f"SinkType must be one of {list(SINK_TYPES)}")
        try:
            config = json.loads(configuration)
        except ValueError:
            raise bad_request("SinkConfiguration is not valid JSON") from None
        if not isinstance(config, dict):
            raise bad_request("SinkConfiguration must be a JSON object")
        status = "initialized"
        if sink_type == "webhook":
            if not valid_destination(str(config.get("destination", ""))):
                raise bad_request("SinkConfiguration.destination must be an http(s) URL")
            if str(config.get("method", "POST")).upper() != "POST":
                raise TwilioError(501, NOT_MODELLED, "webhook sinks with method GET are not modelled")
            status = "active"
        now = self.core.now()
        sink = Sink(self.core.sid("DG"), description, sink_type, config, status, now, now)
        self.sinks[sink.sid] = sink
        return sink

    def sink(self, sid: str) -> Sink:
        found = self.sinks.get(sid)
        if found is None:
            raise not_found(f"The requested resource /Sinks/{sid} was not found")
        return found

    def in_use(self, sink: Sink) -> bool:
        return any(s.sink_sid == sink.sid for s in self.subscriptions.values())

    def delete_sink(self, sink: Sink) -> None:
        if self.in_use(sink):
            raise bad_request(f"Sink {sink.sid} is used by a subscription")
        del self.sinks[sink.sid]
        self._waiting.pop(sink.sid, None)
        self._again.pop(sink.sid, None)
        self.forget(sink.sid)

    def test_sink(self, sink: Sink, test_id: str) -> None:
        """The sink's test event (type com.twilio.eventstreams.test-event, as Twilio's validation
        posts show it), sent now; `Validate` with its test id makes the sink active."""
        sink.last_test_id = test_id
        if sink.sink_type == "webhook":
            event = envelope(
                "com.twilio.eventstreams.test-event",
                self.core.sid("EZ"),
                "Sink",
                "https://events-schemas.twilio.com/EventStreams.TestSink/1.json",
                self.core.now(),
                {"test_id": test_id},
            )
            self.outlet(sink, [event])

    # ---- subscriptions -------------------------------------------------------------------------
    def schema_version(self, event_type: str, version: int | None) -> int:
        known = EVENT_TYPES.get(event_type)
        if known is None:
            raise bad_request(f"Type {event_type} not found in the system")
        latest = LATEST_VERSIONS[known.schema_id]
        if version is None:
            return latest
        if not 1 <= version <= latest:
            raise bad_request(f"schema_version {version} of {known.schema_id} does not exist (1..{latest})")
        return version

    def create_subscription(self, description: str, sink_sid: str, types: list[str]) -> Subscription:
        sink = self.sink(sink_sid)
        if sink.status != "active":
            raise bad_request(f"Sink {sink_sid} is not active ({sink.status})")
        if not types:
            raise bad_request("Types must name at least one event type")
        wanted: dict[str, int] = {}
        for raw in types:
            try:
                item = json.loads(raw)
            except ValueError:
                raise bad_request(f"Types: {raw!r} is not valid JSON") from None
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                raise bad_request('Types: each item is a JSON object {"type": …, "schema_version": …}')
            version = item.get("schema_version")
            if version is not None and not isinstance(version, int):
                raise bad_request("Types: schema_version must be an integer")
            wanted[item["type"]] = self.schema_version(item["type"], version)
        now = self.core.now()
        sub = Subscription(self.core.sid("DF"), description, sink_sid, now, now, wanted)
        self.subscriptions[sub.sid] = sub
        return sub

    def subscription(self, sid: str) -> Subscription:
        found = self.subscriptions.get(sid)
        if found is None:
            raise not_found(f"The requested resource /Subscriptions/{sid} was not found")
        return found

    def subscribe(self, sub: Subscription, event_type: str, version: int | None) -> bool:
        """Add (True) or re-version (False) one type of a subscription."""
        created = event_type not in sub.types
        sub.types[event_type] = self.schema_version(event_type, version)
        sub.date_updated = self.core.now()
        return created

    def unsubscribe(self, sub: Subscription, event_type: str) -> None:
        if event_type not in sub.types:
            raise not_found(f"{event_type} is not subscribed by {sub.sid}")
        del sub.types[event_type]
        sub.date_updated = self.core.now()

    # ---- streaming -----------------------------------------------------------------------------
    def _routes(self, event_type: str) -> list[tuple[Sink, int]]:
        routes = []
        for sub in self.subscriptions.values():
            version = sub.types.get(event_type)
            sink = self.sinks.get(sub.sink_sid)
            if version is not None and sink is not None and sink.delivers:
                routes.append((sink, version))
        return routes

    def on_taskrouter_event(self, published: EventPublished) -> None:
        for sink, version in self._routes(f"com.twilio.taskrouter.{published.event.event_type}"):
            self._wait(sink, taskrouter_cloudevent(published, self.core.sid("EZ"), version))

    def on_conversations_event(self, event: ConversationsEvent) -> None:
        kind = conversations_type(event)
        if kind is None:
            return
        schema = EVENT_TYPES[kind].schema_id
        for sink, version in self._routes(kind):
            ce = conversations_cloudevent(
                event, self.core.account_sid, self.core.sid("EZ"), schema, version, self.core.now()
            )
            self._wait(sink, ce)

    def _wait(self, sink: Sink, cloudevent: dict[str, Any]) -> None:
        self.streamed.append(cloudevent)
        self._waiting.setdefault(sink.sid, []).append(cloudevent)

    def flush(self) -> None:
        """Send what waits, in batches per sink (one event a request when `batch_events` is off)."""
        for sink_sid in list(self._waiting) + list(self._again):
            sink = self.sinks.get(sink_sid)
            events = self._again.pop(sink_sid, []) + self._waiting.pop(sink_sid, [])
            if sink is None or not events:
                continue
            events, again = self.faults.stream(events)
            if again:
                self._again.setdefault(sink_sid, []).extend(again)
            size = self.batch_size if sink.batch_events else 1
            for start in range(0, len(events), size):
                self.outlet(sink, events[start : start + size])

    def pending(self) -> int:
        return sum(len(v) for v in self._waiting.values()) + sum(len(v) for v in self._again.values())
