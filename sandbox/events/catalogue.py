"""The event types Event Streams offers that the sandbox can produce, with their schemas.

Type names and schema ids from Twilio's event type pages
(https://www.twilio.com/docs/events/event-types, `…/taskrouter/task`, `…/taskrouter/reservation`,
`…/conversations/participant`…). TaskRouter's types share the schema `TaskRouter.WDSEvent`, whose
examples there carry version 4; each Conversations type has its own schema, version 2 the latest
("v2 only contains updates to the schema metadata").
"""

from __future__ import annotations

from dataclasses import dataclass

TASKROUTER_SCHEMA = "TaskRouter.WDSEvent"
DOCS = "https://www.twilio.com/docs/events/event-types"
SCHEMAS_HOST = "https://events-schemas.twilio.com"


@dataclass(frozen=True)
class EventType:
    type: str
    schema_id: str
    description: str
    documentation_url: str


TASKROUTER_TYPES = {
    "task": (
        "created", "updated", "canceled", "completed", "deleted", "system-deleted", "wrapup",
        "transfer-initiated", "transfer-completed", "transfer-failed", "transfer-canceled",
        "transfer-attempt-failed",
    ),
    "reservation": (
        "created", "accepted", "rejected", "timeout", "canceled", "rescinded", "completed", "failed",
        "wrapup",
    ),
    "worker": (
        "created", "deleted", "activity.update", "attributes.update", "capacity.update",
        "channel.availability.update",
    ),
    "task-queue": ("created", "deleted", "entered", "moved", "timeout", "expression-updated"),
    "workflow": ("entered", "rejected", "skipped", "target-matched", "timeout"),
}  # fmt: skip

# Conversations type -> (its schema, the post-event webhook's name for the same event)
CONVERSATIONS_TYPES = {
    "conversation.added": ("ConversationAdded", "onConversationAdded"),
    "conversation.updated": ("ConversationUpdated", "onConversationUpdated"),
    "conversation.removed": ("ConversationRemoved", "onConversationRemoved"),
    "conversation-state.updated": ("ConversationStateUpdated", "onConversationStateUpdated"),
    "message.added": ("MessageAdded", "onMessageAdded"),
    "message.updated": ("MessageUpdated", "onMessageUpdated"),
    "message.removed": ("MessageRemoved", "onMessageRemoved"),
    "participant.added": ("ParticipantAdded", "onParticipantAdded"),
    "participant.updated": ("ParticipantUpdated", "onParticipantUpdated"),
    "participant.removed": ("ParticipantRemoved", "onParticipantRemoved"),
}

LATEST_VERSIONS: dict[str, int] = {TASKROUTER_SCHEMA: 4}
LATEST_VERSIONS.update({f"Conversations.{schema}": 2 for schema, _ in CONVERSATIONS_TYPES.values()})


def _catalogue() -> dict[str, EventType]:
    types: dict[str, EventType] = {}
    for resource, events in TASKROUTER_TYPES.items():
        for event in events:
            name = f"com.twilio.taskrouter.{resource}.{event}"
            types[name] = EventType(
                name, TASKROUTER_SCHEMA, f"TaskRouter {resource} {event}", f"{DOCS}/taskrouter/{resource}"
            )
    for event, (schema, _) in CONVERSATIONS_TYPES.items():
        name = f"com.twilio.conversations.{event}"
        page = event.split(".")[0]
        types[name] = EventType(
            name, f"Conversations.{schema}", f"Conversations {event}", f"{DOCS}/conversations/{page}"
        )
    return types


EVENT_TYPES = _catalogue()
BY_WEBHOOK_NAME = {
    webhook: f"com.twilio.conversations.{event}" for event, (_, webhook) in CONVERSATIONS_TYPES.items()
}


def dataschema(schema_id: str, version: int) -> str:
    return f"{SCHEMAS_HOST}/{schema_id}/{version}"
