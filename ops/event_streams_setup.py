"""`chat-transfer setup --event-streams --public-url URL`: Twilio Event Streams to the service.

Creates, or finds and brings up to date, one webhook Sink for `<URL>/webhooks/event-streams` and
one Subscription on it to the event types the service handles, each at the schema version the
service's mapping was written against (`worker.domain.cloudevents.HANDLED_TYPES`), through Events
v1 (`Sinks`, `Subscriptions`, `SubscribedEvents`; https://www.twilio.com/docs/events/webhook-quickstart).
It leaves the workspace's Event Callback URL and the Conversations webhooks as they are: nobody
else's callback is replaced, and during a move from the callback both intakes may run (the service
acts once on a TaskRouter event that comes both ways).

A sink's configuration cannot be changed once created (Events v1 updates only its Description),
so a sink is found by its destination; a sink of this service's description pointing elsewhere
(an old public URL) is reported, not deleted. When EVENT_STREAMS_BASIC_AUTH (user:password) is
set, the destination carries the credentials and Event Streams sends them on every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from worker.domain.cloudevents import HANDLED_TYPES

if TYPE_CHECKING:
    from ops.setup_account import AccountSetup

EVENT_STREAMS_PATH = "/webhooks/event-streams"
DESCRIPTION = "flex-chat-transfer"


def wanted_types() -> dict[str, int]:
    return {h.cloud_type: h.schema_version for h in HANDLED_TYPES.values()}


def sink_destination(public_url: str, credentials: str | None = None) -> str:
    base = public_url.rstrip("/") + EVENT_STREAMS_PATH
    if not credentials:
        return base
    user, _, password = credentials.partition(":")
    parts = urlsplit(base)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def shown(url: str) -> str:
    """A destination as printed: any password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def sink_configuration(destination: str) -> dict[str, Any]:
    return {"destination": destination, "method": "POST", "batch_events": True}


@dataclass
class SubscriptionPlan:
    """What must change in a subscription's types for it to carry `wanted`."""

    add: dict[str, int] = field(default_factory=dict)
    reversion: dict[str, int] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)

    @classmethod
    def between(cls, current: dict[str, int], wanted: dict[str, int]) -> SubscriptionPlan:
        return cls(
            add={t: v for t, v in wanted.items() if t not in current},
            reversion={t: v for t, v in wanted.items() if t in current and current[t] != v},
            remove=sorted(t for t in current if t not in wanted),
        )

    def lines(self) -> list[str]:
        out = [f"add {t} (schema version {v})" for t, v in sorted(self.add.items())]
        out += [f"schema version {v} for {t}" for t, v in sorted(self.reversion.items())]
        out += [f"remove {t}" for t in self.remove]
        return out

    def __bool__(self) -> bool:
        return bool(self.add or self.reversion or self.remove)


class EventStreamsSetup:
    """Every call through the official twilio library, with AccountSetup's retries and errors."""

    def __init__(self, account: AccountSetup) -> None:
        self.account = account
        self.events = account.client.events.v1

    def ensure(self, public_url: str, credentials: str | None, *, dry_run: bool) -> list[str]:
        """Make (or plan, with `dry_run`) the sink and the subscription; the lines say what."""
        destination = sink_destination(public_url, credentials)
        lines: list[str] = []
        sinks = self.account.call("list Event Streams sinks", lambda: self.events.sinks.list(limit=1000))
        webhook_sinks = [s for s in sinks if s.sink_type == "webhook"]
        mine = [s for s in webhook_sinks if (s.sink_configuration or {}).get("destination") == destination]
        for stale in webhook_sinks:
            if stale.description == DESCRIPTION and stale not in mine:
                where = shown((stale.sink_configuration or {}).get("destination", "?"))
                lines.append(
                    f"warning: sink {stale.sid} ({DESCRIPTION}) still sends to {where}; delete it if unused"
                )
        wanted = wanted_types()
        if not mine:
            lines.append(f"{'would create' if dry_run else 'created'} webhook sink → {shown(destination)}")
            lines.append(
                f"{'would create' if dry_run else 'created'} subscription to {len(wanted)} event types: "
                + ", ".join(f"{t} v{v}" for t, v in sorted(wanted.items()))
            )
            if not dry_run:
                sink = self.account.call(
                    "create Event Streams sink",
                    lambda: self.events.sinks.create(
                        description=DESCRIPTION,
                        sink_configuration=sink_configuration(destination),
                        sink_type="webhook",
                    ),
                )
                lines[-2] += f" ({sink.sid})"
                self._check_active(sink, lines)
                created = self._create_subscription(sink.sid, wanted)
                lines[-1] += f" ({created.sid})"
            return lines
        sink = mine[0]
        lines.append(f"webhook sink {sink.sid} already sends to {shown(destination)}")
        if not (sink.sink_configuration or {}).get("batch_events"):
            lines.append(f"warning: sink {sink.sid} sends one event a request (batch_events off)")
        self._check_active(sink, lines)
        subscriptions = self.account.call(
            "list Event Streams subscriptions",
            lambda: self.events.subscriptions.list(sink_sid=sink.sid, limit=1000),
        )
        ours = sorted(subscriptions, key=lambda s: s.description != DESCRIPTION)
        if not ours:
            verb = "would create" if dry_run else "created"
            if not dry_run:
                verb += f" ({self._create_subscription(sink.sid, wanted).sid})"
            lines.append(f"{verb} subscription to {len(wanted)} event types")
            return lines
        subscription = ours[0]
        subscribed = self.events.subscriptions(subscription.sid).subscribed_events
        current = {
            e.type: e.schema_version
            for e in self.account.call("list subscribed event types", lambda: subscribed.list(limit=1000))
        }
        plan = SubscriptionPlan.between(current, wanted)
        if not plan:
            lines.append(f"subscription {subscription.sid} already carries the {len(wanted)} event types")
            return lines
        for line in plan.lines():
            lines.append(f"{'would ' if dry_run else ''}{line} in subscription {subscription.sid}")
        if not dry_run:
            self._apply(subscribed, plan)
        return lines

    def _create_subscription(self, sink_sid: str, wanted: dict[str, int]) -> Any:
        types = [{"type": t, "schema_version": v} for t, v in sorted(wanted.items())]
        return self.account.call(
            "create Event Streams subscription",
            lambda: self.events.subscriptions.create(description=DESCRIPTION, sink_sid=sink_sid, types=types),
        )

    def _apply(self, subscribed: Any, plan: SubscriptionPlan) -> None:
        for event_type, version in plan.add.items():
            self.account.call(
                f"subscribe {event_type}",
                lambda t=event_type, v=version: subscribed.create(type=t, schema_version=v),
            )
        for event_type, version in plan.reversion.items():
            self.account.call(
                f"update {event_type}", lambda t=event_type, v=version: subscribed(t).update(schema_version=v)
            )
        for event_type in plan.remove:
            self.account.call(f"unsubscribe {event_type}", lambda t=event_type: subscribed(t).delete())

    @staticmethod
    def _check_active(sink: Any, lines: list[str]) -> None:
        if sink.status != "active":
            lines.append(
                f"warning: sink {sink.sid} is {sink.status}; Twilio sends nothing until it is active "
                "(Sinks/{Sid}/Test, then Validate with the test id the receiver's log shows)"
            )
