"""Event Streams' CloudEvents, checked and mapped to the domain events the callback intake makes.

A webhook sink receives a JSON array of CloudEvents 1.0 (`specversion`, `id`, `source`, `type`
required; https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md). The service acts
on the TaskRouter and Conversations types in `HANDLED_TYPES`; any other type is acknowledged and
ignored. Payload shapes, from Twilio's event type pages:

* TaskRouter (https://www.twilio.com/docs/events/event-types/taskrouter/task, `…/reservation`),
  schema `TaskRouter.WDSEvent`: `data` = {`sid` (EV…), `name`, `account_sid`, `timestamp`, `group`,
  `product_name`, `publisher`, `payload_type`, `payload`}; `payload` carries the event callback's
  fields in snake_case (`task_sid`, `task_attributes`, `task_assignment_status`,
  `task_canceled_reason`, `worker_sid`, `worker_name`, `worker_attributes`, `reservation_sid`,
  `sid`, `eventtype`, …; the field list of the schema is the one Elastic's Twilio integration
  indexes, https://www.elastic.co/docs/reference/integrations/twilio).
* Conversations (https://www.twilio.com/docs/events/event-types/conversations/participant,
  `…/conversation-state`, `…/conversation`): `data` carries the post-event webhook's own field
  names (`ConversationSid`, `ParticipantSid`, `Identity`, `StateFrom`, `StateTo`, `Reason`…).

Both become the `TaskRouterEvent` / `ConversationEvent` the callback intake makes, so the
handlers cannot tell which intake an event came by (README: "Event Streams or the callback").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.domain.errors import InvalidInput
from worker.domain.events import ConversationEvent, TaskRouterEvent, _json_object

SPEC_VERSION = "1.0"
TASKROUTER_SCHEMA = "TaskRouter.WDSEvent"
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_DATASCHEMA_VERSION = re.compile(r"/([A-Za-z0-9.]+)/(\d+)(?:\.json)?$")


@dataclass(frozen=True)
class HandledType:
    """A CloudEvent type the service subscribes to: the schema (and version) it was written
    against, and the callback's name for the same event."""

    cloud_type: str
    schema_id: str
    schema_version: int
    event_type: str  # "task.created", "onParticipantAdded"...

    @property
    def taskrouter(self) -> bool:
        return self.schema_id == TASKROUTER_SCHEMA


def _taskrouter(name: str) -> HandledType:
    # The version of the examples on Twilio's TaskRouter event type pages (dataschema
    # https://events-schemas.twilio.com/TaskRouter.WDSEvent/4); the fields read here are in every
    # version since 1.
    return HandledType(f"com.twilio.taskrouter.{name}", TASKROUTER_SCHEMA, 4, name)


def _conversations(name: str, schema: str, callback_name: str) -> HandledType:
    # v2 is the latest Conversations schema version ("v2 only contains updates to the schema
    # metadata", https://www.twilio.com/docs/events/event-types/conversations/participant).
    return HandledType(f"com.twilio.conversations.{name}", f"Conversations.{schema}", 2, callback_name)


# What worker/handlers/tracking.py acts on, by CloudEvent type. `task.system-deleted` is TaskRouter
# deleting an assigned or wrapping task that reached its TTL (TaskRouter Events reference); like
# `task.deleted`, it closes the task for the chat.
HANDLED_TYPES: dict[str, HandledType] = {
    h.cloud_type: h
    for h in (
        _taskrouter("task.created"),
        _taskrouter("task.wrapup"),
        _taskrouter("task.completed"),
        _taskrouter("task.canceled"),
        _taskrouter("task.deleted"),
        _taskrouter("task.system-deleted"),
        _taskrouter("reservation.created"),
        _taskrouter("reservation.accepted"),
        _taskrouter("reservation.rejected"),
        _taskrouter("reservation.timeout"),
        _taskrouter("reservation.canceled"),
        _taskrouter("reservation.rescinded"),
        _conversations("participant.added", "ParticipantAdded", "onParticipantAdded"),
        _conversations("participant.removed", "ParticipantRemoved", "onParticipantRemoved"),
        _conversations(
            "conversation-state.updated", "ConversationStateUpdated", "onConversationStateUpdated"
        ),
        _conversations("conversation.removed", "ConversationRemoved", "onConversationRemoved"),
        # a close's Source and ClientIdentity: who closed the chat (rule 5, issue 15)
        _conversations("conversation.updated", "ConversationUpdated", "onConversationUpdated"),
    )
}

# The sids the service uses, and their prefix: checked when present, as the callback's are.
_TASKROUTER_SIDS = {"sid": "EV", "task_sid": "WT", "worker_sid": "WK", "reservation_sid": "WR"}
_CONVERSATIONS_SIDS = {"ConversationSid": "CH", "ParticipantSid": "MB"}


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    data: Any = None
    dataschema: str | None = None
    time: str | None = None

    @property
    def handled(self) -> HandledType | None:
        return HANDLED_TYPES.get(self.type)

    @property
    def schema_version(self) -> int | None:
        """The version in `dataschema` (…/TaskRouter.WDSEvent/4 → 4), None when it names none."""
        found = _DATASCHEMA_VERSION.search(self.dataschema or "")
        return int(found.group(2)) if found else None

    @property
    def event_sid(self) -> str | None:
        """TaskRouter's own event sid (EV…), which the callback carries as `Sid` too."""
        if not (self.handled and self.handled.taskrouter and isinstance(self.data, dict)):
            return None
        payload = self.data.get("payload")
        for value in ((payload or {}).get("sid"), self.data.get("sid")):
            if isinstance(value, str) and value.startswith("EV"):
                return value
        return None

    @property
    def dedupe_key(self) -> str:
        """Acted on once per key. A TaskRouter event is keyed by its EV sid, as the callback intake
        keys it (`taskrouter:EV…`), so an event both intakes deliver is acted on once; any other
        event by its CloudEvent `id`, which Event Streams keeps on redelivery."""
        return f"taskrouter:{self.event_sid}" if self.event_sid else f"event-streams:{self.id}"


def parse_batch(body: Any) -> list[CloudEvent]:
    """The events of a sink request: a JSON array of CloudEvents (a single object is a batch of
    one). `InvalidInput` names the first malformed field, e.g. ``[2].data.payload.task_sid``."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise InvalidInput("body", "body must be a JSON array of CloudEvents")
    return [parse_event(raw, f"[{i}]") for i, raw in enumerate(body)]


def parse_event(raw: Any, where: str = "") -> CloudEvent:
    if not isinstance(raw, dict):
        raise InvalidInput(where or "body", f"{where or 'the event'} must be a JSON object")
    if raw.get("specversion") != SPEC_VERSION:
        raise InvalidInput(f"{where}.specversion", f"specversion must be {SPEC_VERSION!r}")
    for name in ("id", "type", "source"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}.{name}", f"{name} is required (a non-empty string)")
    for name in ("dataschema", "time"):
        if raw.get(name) is not None and not isinstance(raw.get(name), str):
            raise InvalidInput(f"{where}.{name}", f"{name} must be a string")
    event = CloudEvent(
        id=raw["id"],
        type=raw["type"],
        source=raw["source"],
        data=raw.get("data"),
        dataschema=raw.get("dataschema"),
        time=raw.get("time"),
    )
    handled = event.handled
    if handled is not None:
        if handled.taskrouter:
            _check_taskrouter_data(event.data, f"{where}.data")
        else:
            _check_conversations_data(event.data, f"{where}.data")
    return event


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(field, f"{field} must be a JSON object")
    return value


def _check_sids(values: Mapping[str, Any], sids: Mapping[str, str], where: str) -> None:
    for name, prefix in sids.items():
        value = values.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not value.startswith(prefix) or not _SID.match(value):
            raise InvalidInput(f"{where}.{name}", f"{where}.{name} must be a {prefix} sid")


def _check_json_object(values: Mapping[str, Any], name: str, where: str) -> None:
    value = values.get(name)
    if value is None or value == "" or isinstance(value, dict):
        return
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except (ValueError, RecursionError):
        raise InvalidInput(f"{where}.{name}", f"{where}.{name} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidInput(f"{where}.{name}", f"{where}.{name} must be a JSON object")


def _check_taskrouter_data(data: Any, where: str) -> None:
    data = _object(data, where)
    payload = _object(data.get("payload"), f"{where}.payload")
    _check_sids(data, {"sid": "EV"}, where)
    _check_sids(payload, _TASKROUTER_SIDS, f"{where}.payload")
    if not payload.get("task_sid"):
        raise InvalidInput(f"{where}.payload.task_sid", f"{where}.payload.task_sid is required")
    for name in ("task_attributes", "worker_attributes"):
        _check_json_object(payload, name, f"{where}.payload")


def _check_conversations_data(data: Any, where: str) -> None:
    data = _object(data, where)
    _check_sids(data, _CONVERSATIONS_SIDS, where)
    if not data.get("ConversationSid"):
        raise InvalidInput(f"{where}.ConversationSid", f"{where}.ConversationSid is required")
    _check_json_object(data, "Attributes", where)


def _text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _attributes(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _json_object(value if isinstance(value, str) else None)


def domain_event(event: CloudEvent) -> TaskRouterEvent | ConversationEvent | None:
    """The domain event of a checked CloudEvent; None for a type the service does not handle."""
    handled = event.handled
    if handled is None:
        return None
    data = event.data
    if handled.taskrouter:
        payload = data["payload"]
        return TaskRouterEvent(
            event_type=handled.event_type,
            event_sid=event.event_sid,
            task_sid=_text(payload, "task_sid"),
            task_attributes=_attributes(payload.get("task_attributes")),
            assignment_status=_text(payload, "task_assignment_status"),
            canceled_reason=_text(payload, "task_canceled_reason") or _text(payload, "reason"),
            worker_sid=_text(payload, "worker_sid"),
            worker_name=_text(payload, "worker_name"),
            worker_attributes=_attributes(payload.get("worker_attributes")),
            reservation_sid=_text(payload, "reservation_sid"),
            timestamp=_text(payload, "timestamp") or _text(data, "timestamp") or event.time,
        )
    return ConversationEvent(
        event_type=handled.event_type,
        conversation_sid=_text(data, "ConversationSid"),
        identity=_text(data, "Identity"),
        participant_sid=_text(data, "ParticipantSid"),
        state_to=_text(data, "StateTo"),
        attributes=_attributes(data.get("Attributes")),
        state=_text(data, "State"),
        source=_text(data, "Source"),
        client_identity=_text(data, "ClientIdentity"),
        reason=_text(data, "Reason"),
    )


def cloudevent_of(raw: Mapping[str, Any]) -> CloudEvent:
    """A queued event back as a CloudEvent (it was checked by the receiver)."""
    return parse_event(dict(raw))
