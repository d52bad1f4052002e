"""Flex's Interactions resources as the sandbox keeps them, and the chat identity of a worker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

FX = "https://flex-api.twilio.com/v1"


@dataclass
class InteractionParticipant:
    sid: str
    type: str
    routing_properties: dict | None
    identity: str | None = None


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
    task_sids: list[str] = field(default_factory=list)


@dataclass
class Interaction:
    sid: str
    channel: dict
    routing: dict
    channel_sid: str
    interaction_context_sid: str | None
    webhook_ttid: str | None


@dataclass
class OrchestrationFlags:
    add_agent_on_accept: bool = True
    remove_agent_on_wrapup: bool = True
    remove_agent_on_complete: bool = True


def worker_identity(worker_attributes: str, friendly_name: str) -> str:
    """The chat identity Flex uses for a worker: contact_uri without 'client:'."""
    try:
        attrs = json.loads(worker_attributes)
    except ValueError:
        attrs = {}
    uri = attrs.get("contact_uri") or f"client:{friendly_name}"
    return uri[len("client:") :] if uri.startswith("client:") else uri
