"""The CloudEvents Event Streams makes of TaskRouter and Conversations events.

Shapes from Twilio's event type pages (https://www.twilio.com/docs/events/event-types/taskrouter/task,
`…/conversations/participant`, `…/conversations/conversation-state`): CloudEvents 1.0 with
`dataschema` https://events-schemas.twilio.com/<schema>/<version>;

* TaskRouter (`TaskRouter.WDSEvent`): `data` = {`sid` (EV…), `name`, `account_sid`,
  `account_friendly_name`, `parent_account_sid`, `parent_friendly_name`, `timestamp`, `level`,
  `group`, `product_name`, `publisher` (the workspace), `publisher_metadata`, `payload_type`,
  `payload`}; `payload` is the event callback's fields in snake_case (`EventType` → `eventtype`, as
  the schema's field list names it), counts as integers, `timestamp` in ISO 8601;
* Conversations: `data` has the post-event webhook's fields under their own names, a messaging
  binding as one `MessagingBinding` object, without the webhook's delivery fields (`EventType`,
  `Source`, `ClientIdentity`, `RetryCount`, `WebhookType`).

Where the pages are silent, the choices: `source` is the resource's REST path, `id` a fresh `EZ`
sid kept by every redelivery, `datacontenttype` `application/json` (the pages' examples put a
timestamp there, which CloudEvents does not allow), `time` the event's time.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..clock import iso_ms
from ..conversations import ConversationsEvent
from ..taskrouter import EventPublished
from ..taskrouter.events import snake_case
from .catalogue import BY_WEBHOOK_NAME, TASKROUTER_SCHEMA, dataschema

_INTEGER_FIELDS = {
    "task_age", "task_priority", "task_version", "task_timeout", "worker_version", "reservation_version",
    "task_age_in_queue", "worker_channel_capacity", "worker_channel_available_capacity",
}  # fmt: skip
_DROPPED_TASKROUTER = {"TimestampMs"}
_WEBHOOK_ONLY = {"EventType", "Source", "ClientIdentity", "RetryCount", "WebhookType", "WebhookSid"}
_COLLECTIONS = {"task": "Tasks", "worker": "Workers", "workflow": "Workflows", "taskqueue": "TaskQueues"}


def envelope(kind: str, ce_id: str, source: str, schema: str, time: float, data: dict[str, Any]) -> dict:
    """A CloudEvent 1.0 as Event Streams sends every event (the sink's test event too)."""
    return {
        "specversion": "1.0",
        "type": kind,
        "source": source,
        "id": ce_id,
        "dataschema": schema,
        "datacontenttype": "application/json",
        "time": iso_ms(time),
        "data": data,
    }


def taskrouter_cloudevent(published: EventPublished, ce_id: str, version: int) -> dict[str, Any]:
    event, ws, fields = published.event, published.workspace, published.fields
    payload: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _DROPPED_TASKROUTER:
            continue
        name = "eventtype" if key == "EventType" else snake_case(key)
        payload[name] = int(value) if name in _INTEGER_FIELDS and value.lstrip("-").isdigit() else value
    payload["timestamp"] = iso_ms(event.date)
    group = event.resource_type
    if group == "reservation":
        source = (
            f"/v1/Workspaces/{ws.sid}/Tasks/{fields.get('TaskSid', '')}/Reservations/{event.resource_sid}"
        )
    else:
        source = f"/v1/Workspaces/{ws.sid}/{_COLLECTIONS.get(group, 'Events')}/{event.resource_sid}"
    account = fields.get("AccountSid", "")
    data = {
        "sid": event.sid,
        "name": "".join(part.title() for part in re.split(r"[.-]", event.event_type)),
        "account_sid": account,
        "account_friendly_name": "Sandbox account",
        "parent_account_sid": account,
        "parent_friendly_name": "Sandbox account",
        "timestamp": iso_ms(event.date),
        "level": "INFO",
        "group": group,
        "product_name": "TaskRouter",
        "publisher": ws.friendly_name,
        "publisher_metadata": json.dumps({"workspace_sid": ws.sid}),
        "payload_type": "application/json",
        "payload": payload,
    }
    kind = f"com.twilio.taskrouter.{event.event_type}"
    return envelope(kind, ce_id, source, dataschema(TASKROUTER_SCHEMA, version), event.date, data)


def conversations_type(event: ConversationsEvent) -> str | None:
    return BY_WEBHOOK_NAME.get(event.event_type)


def conversations_cloudevent(
    event: ConversationsEvent, account_sid: str, ce_id: str, schema_id: str, version: int, now: float
) -> dict[str, Any]:
    conv = event.conversation
    data: dict[str, Any] = {
        "AccountSid": account_sid,
        "ConversationSid": conv.sid,
        "ChatServiceSid": conv.service_sid,
        "MessagingServiceSid": conv.messaging_service_sid,
    }
    binding: dict[str, str] = {}
    for key, value in event.fields.items():
        if key in _WEBHOOK_ONLY:
            continue
        if key.startswith("MessagingBinding."):
            binding[key.split(".", 1)[1]] = value
        else:
            data[key] = value
    if binding:
        data["MessagingBinding"] = binding
    source = f"/v1/Conversations/{conv.sid}"
    if event.event_type.startswith("onParticipant") and "ParticipantSid" in data:
        source += f"/Participants/{data['ParticipantSid']}"
    elif event.event_type.startswith("onMessage") and "MessageSid" in data:
        source += f"/Messages/{data['MessageSid']}"
    kind = conversations_type(event) or ""
    return envelope(kind, ce_id, source, dataschema(schema_id, version), now, data)
