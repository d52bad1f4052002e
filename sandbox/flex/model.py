"""Flex's Interactions resources as the sandbox keeps them, which channel a task or a conversation
belongs to, and the chat identity of a worker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..taskrouter import Task

FX = "https://flex-api.twilio.com/v1"


@dataclass
class InteractionParticipant:
    sid: str
    type: str
    routing_properties: dict | None
    identity: str | None = None
    status: str | None = None  # None while in the chat; "wrapup" once updated so


@dataclass
class Invite:
    sid: str
    routing: dict


@dataclass
class InteractionChannel:
    sid: str
    interaction_sid: str
    type: str
    status: str
    conversation_sid: str
    participants: dict[str, InteractionParticipant] = field(default_factory=dict)
    invites: list[Invite] = field(default_factory=list)
    # the tasks the Interactions API made for this channel (create, invites, resumptions)
    task_sids: list[str] = field(default_factory=list)
    # the routing the interaction was created with (properties), for a task that resumes it
    routing: dict = field(default_factory=dict)
    paused: Paused | None = None
    parked: dict | None = None  # what the template's park function stored (see desktop.park)

    def agent(self, task_sid: str) -> InteractionParticipant | None:
        """The agent participant that joined through `task_sid`."""
        return next(
            (
                p
                for p in self.participants.values()
                if p.type == "agent" and (p.routing_properties or {}).get("task_sid") == task_sid
            ),
            None,
        )


@dataclass
class Paused:
    """Flex's Pause: who paused the chat and when (a resume routes back to them)."""

    worker_sid: str
    since: float


@dataclass
class Interaction:
    sid: str
    channel: dict
    routing: dict
    channel_sid: str
    interaction_context_sid: str | None
    webhook_ttid: str | None


def channel_made_for(channels: dict[str, InteractionChannel], task: Task) -> InteractionChannel | None:
    """The interaction channel the Interactions API made `task` for (interaction create, an invite,
    a resumption); None for any other task, a plain TaskRouter task that copies
    ``flexInteractionChannelSid`` included ("Best Practices": agents join through Invites)."""
    ch = channels.get(task.attrs.get("flexInteractionChannelSid") or "")
    return ch if ch is not None and task.sid in ch.task_sids else None


def channel_of_conversation(
    channels: dict[str, InteractionChannel], conversation_sid: str
) -> InteractionChannel | None:
    return next((c for c in channels.values() if c.conversation_sid == conversation_sid), None)


@dataclass
class OrchestrationFlags:
    add_agent_on_accept: bool = True


def worker_identity(worker_attributes: str, friendly_name: str) -> str:
    """The chat identity Flex uses for a worker: contact_uri without 'client:'."""
    try:
        attrs = json.loads(worker_attributes)
    except ValueError:
        attrs = {}
    uri = attrs.get("contact_uri") or f"client:{friendly_name}"
    return uri[len("client:") :] if uri.startswith("client:") else uri
