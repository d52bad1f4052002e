"""CloudEvents as Event Streams sends them to a webhook sink, built from Twilio's own examples.

* The TaskRouter envelope and `data` are the example on
  https://www.twilio.com/docs/events/event-types/taskrouter/task (and `…/reservation`), schema
  `TaskRouter.WDSEvent/4`; `data.payload` carries the event callback's fields in snake_case (the
  schema's field list as Elastic's Twilio integration indexes it). The example's placeholder sids
  are a character short (`EV` + 31 digits); real ones, 34 characters, are used here.
* The Conversations examples are those on
  https://www.twilio.com/docs/events/event-types/conversations/participant and
  `…/conversation-state`, schema version 2.
* The docs' examples put a timestamp in `datacontenttype`; CloudEvents (and Event Streams'
  deliveries, e.g. the test event in Twilio's "How to Validate Twilio Event Streams Webhooks"
  posts) carry `application/json` there and the time in `time`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support.settings import ACCOUNT_SID, WORKSPACE_SID, sid

TASKROUTER_SCHEMA = "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4"

TASK_SID = sid("WT", 3)
CONVERSATION_SID = sid("CH", 4)
WORKER_SID = sid("WK", 5)
RESERVATION_SID = sid("WR", 6)
EVENT_SID = sid("EV", 1)

WORKER_ATTRIBUTES = {"contact_uri": "client:alice", "full_name": "Alice Adams", "public_identity": "Alice"}


def taskrouter_event(event: str, *, n: int = 1, **payload: Any) -> dict[str, Any]:
    """`com.twilio.taskrouter.<event>` as the docs' example has it, for a chat task; `payload`
    replaces fields of `data.payload` (None removes one)."""
    group = event.split(".")[0]
    body: dict[str, Any] = {
        "specversion": "1.0",
        "type": f"com.twilio.taskrouter.{event}",
        "source": f"/v1/Workspaces/{WORKSPACE_SID}/Tasks/{TASK_SID}",
        "id": sid("EZ", n),
        "dataschema": TASKROUTER_SCHEMA,
        "datacontenttype": "application/json",
        "time": "2025-10-08T07:17:02.363Z",
        "data": {
            "sid": sid("EV", n),
            "name": "".join(part.title() for part in event.replace("-", ".").split(".")),
            "account_sid": ACCOUNT_SID,
            "account_friendly_name": "An account name",
            "parent_account_sid": ACCOUNT_SID,
            "parent_friendly_name": "Another account name",
            "timestamp": "2025-01-01T00:00:00.000Z",
            "level": "INFO",
            "group": group,
            "product_name": "TaskRouter",
            "publisher": "Flex Task Assignment",
            "publisher_metadata": json.dumps({"workspace_sid": WORKSPACE_SID}),
            "payload_type": "application/json",
            "payload": {
                "sid": sid("EV", n),
                "eventtype": event,
                "account_sid": ACCOUNT_SID,
                "workspace_sid": WORKSPACE_SID,
                "workspace_name": "Flex Task Assignment",
                "event_description": f"Task {TASK_SID} {event}",
                "resource_type": group,
                "resource_sid": TASK_SID if group == "task" else RESERVATION_SID,
                "timestamp": "2025-01-01T00:00:00.000Z",
                "task_sid": TASK_SID,
                "task_attributes": json.dumps({"conversationSid": CONVERSATION_SID, "channelType": "web"}),
                "task_assignment_status": "pending",
                "task_channel_unique_name": "chat",
                "task_priority": 0,
                "task_age": 12,
                "task_version": 2,
                "task_queue_sid": sid("WQ", 7),
                "task_queue_name": "Everyone",
                "workflow_sid": sid("WW", 8),
                "workflow_name": "Assign to Anyone",
            },
        },
    }
    if group == "reservation":
        body["data"]["payload"].update(
            {
                "reservation_sid": RESERVATION_SID,
                "worker_sid": WORKER_SID,
                "worker_name": "alice",
                "worker_attributes": json.dumps(WORKER_ATTRIBUTES),
                "worker_activity_name": "Available",
            }
        )
    for key, value in payload.items():
        if value is None:
            body["data"]["payload"].pop(key, None)
        else:
            body["data"]["payload"][key] = value
    return body


# https://www.twilio.com/docs/events/event-types/conversations/participant (Examples, "Added")
PARTICIPANT_ADDED_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "com.twilio.conversations.participant.added",
    "source": "AB00000000000000000000000001",
    "id": "NO00000000000000000000000001",
    "dataschema": "https://events-schemas.twilio.com/Conversations.ParticipantAdded/2",
    "datacontenttype": "application/json",
    "data": {
        "AccountSid": "ACe95cfd541a925a3337fec19a0200009",
        "ParticipantSid": "MB0119bde8f8b74237a4606d1447c9ebcf",
        "Identity": "FX0000000000000000000000000000001",
        "RoleSid": "RLe95cfd541a925a3337fec19a0200009",
        "ConversationSid": "CHee95cfd541a925a3337fec19a0200009",
        "DateCreated": "2025-01-01T00:00:00.000Z",
        "MessagingBinding": {
            "ProxyAddress": "whatsapp:+11234567890",
            "ProjectedAddress": "[whatsapp:+12345678901]",
            "Address": "whatsapp:+14567890123",
            "Type": "SMS",
            "Level": "cc",
            "Name": "John Doe",
        },
    },
}

# https://www.twilio.com/docs/events/event-types/conversations/conversation-state (Examples)
STATE_UPDATED_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "com.twilio.conversations.conversation-state.updated",
    "source": "AB00000000000000000000000001",
    "id": "NO00000000000000000000000002",
    "dataschema": "https://events-schemas.twilio.com/Conversations.ConversationStateUpdated/2",
    "datacontenttype": "application/json",
    "data": {
        "AccountSid": "ACe95cfd541a925a3337fec19a0200009",
        "ConversationSid": "CHee95cfd541a925a3337fec19a0200009",
        "StateUpdated": "2025-01-01T00:00:00.000Z",
        "StateFrom": "active",
        "StateTo": "inactive",
        "Reason": "API",
        "MessagingServiceSid": "MGee95cfd541a925a3337fec19a0200009",
    },
}


def conversations_event(kind: str, *, n: int = 1, **data: Any) -> dict[str, Any]:
    """A Conversations CloudEvent for the service's chat, shaped as the docs' examples:
    participant.added/removed like the participant example, conversation-state.updated and
    conversation.removed like the state example."""
    if kind.startswith("participant."):
        body = copy.deepcopy(PARTICIPANT_ADDED_EXAMPLE)
        body["dataschema"] = body["dataschema"].replace("Added", kind.split(".")[1].title())
        body["data"]["Identity"] = "alice"
    else:
        body = copy.deepcopy(STATE_UPDATED_EXAMPLE)
        if kind == "conversation.removed":
            body["dataschema"] = "https://events-schemas.twilio.com/Conversations.ConversationRemoved/2"
            for name in ("StateUpdated", "StateFrom", "StateTo", "Reason"):
                body["data"].pop(name)
            body["data"]["State"] = "closed"
    body["type"] = f"com.twilio.conversations.{kind}"
    body["id"] = sid("EZ", 1000 + n)
    body["data"]["ConversationSid"] = CONVERSATION_SID
    body["data"].update(data)
    return body
