"""Who joins a chat when an agent accepts a task, as a subscriber to TaskRouter's
`ReservationAccepted` (switchable with `OrchestrationFlags.add_agent_on_accept`).

* A task the Interactions API made (interaction create, an invite, a resumption): the agent joins
  the conversation and becomes an ``agent`` participant of the interaction channel ("Invites
  Subresource": an invite "allows you to add an agent as a new participant to an existing
  interaction channel").
* A plain TaskRouter task that only copies ``flexInteraction*`` attributes: nobody joins ("Best
  Practices" for Flex Conversations: agents join an ongoing conversation through Invites).
* An older chat (a task naming ``conversationSid`` / ``channelSid`` without an interaction): the
  agent joins the conversation, as the Flex UI's ChatOrchestrator does on ``accepted``.

Nothing happens to a chat when its task wraps up or completes through TaskRouter: Flex's
``wrapup`` / ``completed`` orchestrations run in the Flex UI on the agent's own action (see
`desktop`), never on a REST change of the task (Flex project template,
``feature-library/chat-transfer/flex-hooks/chat-orchestrator/``).
"""

from __future__ import annotations

import json

from ..conversations import Conversation, Conversations, Origin
from ..core import Core
from ..taskrouter import ReservationAccepted
from .model import (
    InteractionChannel,
    InteractionParticipant,
    OrchestrationFlags,
    channel_made_for,
    worker_identity,
)


class Orchestration:
    def __init__(
        self, core: Core, conversations: Conversations, channels: dict[str, InteractionChannel]
    ) -> None:
        self.core = core
        self.conversations = conversations
        self.channels = channels
        self.flags = OrchestrationFlags()
        core.subscribe(ReservationAccepted, self._on_accepted)

    def _on_accepted(self, change: ReservationAccepted) -> None:
        task, worker, res = change.task, change.worker, change.reservation
        attrs = task.attrs
        conv_sid = attrs.get("conversationSid") or attrs.get("channelSid")
        if not conv_sid or not self.flags.add_agent_on_accept:
            return
        ch = channel_made_for(self.channels, task)
        if "flexInteractionChannelSid" in attrs and ch is None:
            return  # not made by the Interactions API: Flex adds nobody
        identity = worker_identity(worker.attributes, worker.friendly_name)
        conv = self.conversations.conversations.get(ch.conversation_sid if ch else conv_sid)
        join_conversation(self.conversations, conv, identity, worker.sid)
        if ch is not None:
            props = {
                "task_sid": task.sid,
                "worker_sid": worker.sid,
                "reservation_sid": res.sid,
            }
            part = InteractionParticipant(self.core.sid("UT"), "agent", props, identity)
            ch.participants[part.sid] = part


def join_conversation(cv: Conversations, conv: Conversation | None, identity: str, worker_sid: str) -> None:
    if conv is None or conv.state == "closed":
        return
    if any(p.identity == identity for p in conv.participants.values()):
        return
    member = json.dumps({"member_type": "agent", "worker_sid": worker_sid})
    cv.add_participant(conv, identity=identity, attributes=member, origin=Origin(fire=True))


def leave_conversation(cv: Conversations, conv_sid: str, identity: str | None, origin: Origin) -> bool:
    """Take `identity` out of the conversation (if it is there and the conversation is open)."""
    conv = cv.conversations.get(conv_sid)
    if not identity or conv is None or conv.state == "closed":
        return False
    left = False
    for p in list(conv.participants.values()):
        if p.identity == identity:
            cv.remove_participant(conv, p, origin)
            left = True
    return left
