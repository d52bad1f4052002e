"""Typed events, parsed from the form fields Twilio posts (the receiver already checked them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from worker.domain.model import CloseReason

TASK_CLOSING = {
    "task.wrapup": CloseReason.WRAPUP,
    "task.completed": CloseReason.COMPLETED,
    "task.canceled": CloseReason.CANCELED,
    "task.deleted": CloseReason.DELETED,
    "task.system-deleted": CloseReason.DELETED,  # an assigned task TaskRouter deleted at its TTL
}
# TaskRouter's TTL cancel, also sent as "Task TTL Exceeded or Max assignment count exceeded".
TTL_EXCEEDED = "Task TTL Exceeded"


def _json_object(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def conversation_sid_in(attributes: dict[str, Any]) -> str | None:
    """The chat a task belongs to: `conversationSid`, else `channelSid` (older flows)."""
    for name in ("conversationSid", "channelSid"):
        value = attributes.get(name)
        if isinstance(value, str) and value.startswith("CH"):
            return value
    return None


def interaction_in(attributes: dict[str, Any]) -> tuple[str, str] | None:
    interaction, channel = attributes.get("flexInteractionSid"), attributes.get("flexInteractionChannelSid")
    if isinstance(interaction, str) and isinstance(channel, str) and interaction and channel:
        return interaction, channel
    return None


@dataclass(frozen=True)
class TaskRouterEvent:
    event_type: str
    event_sid: str | None
    task_sid: str | None
    task_attributes: dict[str, Any] = field(default_factory=dict)
    assignment_status: str | None = None
    canceled_reason: str | None = None
    worker_sid: str | None = None
    worker_name: str | None = None
    worker_attributes: dict[str, Any] = field(default_factory=dict)
    reservation_sid: str | None = None
    timestamp: str | None = None

    @classmethod
    def from_form(cls, fields: dict[str, str]) -> TaskRouterEvent:
        return cls(
            event_type=fields.get("EventType", ""),
            event_sid=fields.get("Sid") or None,
            task_sid=fields.get("TaskSid") or None,
            task_attributes=_json_object(fields.get("TaskAttributes")),
            assignment_status=fields.get("TaskAssignmentStatus") or None,
            canceled_reason=fields.get("TaskCanceledReason") or fields.get("Reason") or None,
            worker_sid=fields.get("WorkerSid") or None,
            worker_name=fields.get("WorkerName") or None,
            worker_attributes=_json_object(fields.get("WorkerAttributes")),
            reservation_sid=fields.get("ReservationSid") or None,
            timestamp=fields.get("Timestamp") or None,
        )

    @property
    def conversation_sid(self) -> str | None:
        return conversation_sid_in(self.task_attributes)

    @property
    def close_reason(self) -> CloseReason | None:
        """How the event closes its task for the chat (rule 1), or None when it does not; a
        cancel whose reason begins "Task TTL Exceeded" is the transfer timing out (rule 4)."""
        reason = TASK_CLOSING.get(self.event_type)
        if reason is CloseReason.CANCELED and (self.canceled_reason or "").strip().startswith(TTL_EXCEEDED):
            return CloseReason.TIMED_OUT
        return reason


@dataclass(frozen=True)
class ConversationEvent:
    event_type: str
    conversation_sid: str | None
    identity: str | None = None
    participant_sid: str | None = None
    state_to: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    state: str | None = None  # the conversation's `State` (onConversationUpdated)
    source: str | None = None  # SDK or API: who made the change (not on onConversationStateUpdated)
    client_identity: str | None = None  # the SDK user who made it
    reason: str | None = None  # onConversationStateUpdated: API, TIMER or EVENT

    @classmethod
    def from_form(cls, fields: dict[str, str]) -> ConversationEvent:
        return cls(
            event_type=fields.get("EventType", ""),
            conversation_sid=fields.get("ConversationSid") or None,
            identity=fields.get("Identity") or None,
            participant_sid=fields.get("ParticipantSid") or None,
            state_to=fields.get("StateTo") or None,
            attributes=_json_object(fields.get("Attributes")),
            state=fields.get("State") or None,
            source=fields.get("Source") or None,
            client_identity=fields.get("ClientIdentity") or None,
            reason=fields.get("Reason") or None,
        )

    @property
    def closes_the_conversation(self) -> bool:
        kind = self.event_type
        return (
            kind == "onConversationRemoved"
            or (kind == "onConversationStateUpdated" and self.state_to == "closed")
            or (kind == "onConversationUpdated" and self.state == "closed")
        )


@dataclass(frozen=True)
class LeaveRequested:
    """`POST /tasks/<WT>/leave`: the agent on `task_sid` leaves the chat `conversation_sid`."""

    task_sid: str
    conversation_sid: str
    worker_sid: str | None = None  # the agent on the task, as the receiver found them


@dataclass(frozen=True)
class TrackTaskRequested:
    """The Studio utility: track `task_sid` on `conversation_sid`."""

    task_sid: str
    conversation_sid: str
