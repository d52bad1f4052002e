"""What Flex does in a chat on TaskRouter events, as a subscriber to them (each step switchable
with `OrchestrationFlags`): the agent who accepts a task naming a conversation joins it (and,
for an interaction task, its channel as an agent participant); when that task wraps up or
completes they leave it, unless another assigned task of theirs is on it."""

from __future__ import annotations

import json

from ..conversations import Conversations, Origin
from ..core import Core
from ..taskrouter import ReservationAccepted, TaskChange, TaskCompleted, TaskWrappedUp
from .model import InteractionChannel, InteractionParticipant, OrchestrationFlags, worker_identity


class Orchestration:
    def __init__(
        self, core: Core, conversations: Conversations, channels: dict[str, InteractionChannel]
    ) -> None:
        self.core = core
        self.conversations = conversations
        self.channels = channels
        self.flags = OrchestrationFlags()
        core.subscribe(ReservationAccepted, self._on_accepted)
        core.subscribe(TaskWrappedUp, self._on_task_ended)
        core.subscribe(TaskCompleted, self._on_task_ended)

    def _on_accepted(self, change: ReservationAccepted) -> None:
        """The agent who accepts a task naming a conversation joins it (and the interaction)."""
        task, worker, res = change.task, change.worker, change.reservation
        attrs = task.attrs
        conv_sid = attrs.get("conversationSid") or attrs.get("channelSid")
        if not conv_sid or worker is None or not self.flags.add_agent_on_accept:
            return
        identity = worker_identity(worker.attributes, worker.friendly_name)
        cv = self.conversations
        conv = cv.conversations.get(conv_sid)
        if (
            conv is not None
            and conv.state != "closed"
            and not any(p.identity == identity for p in conv.participants.values())
        ):
            member = json.dumps({"member_type": "agent", "worker_sid": worker.sid})
            cv.add_participant(conv, identity=identity, attributes=member, origin=Origin(fire=True))
        ch = self.channels.get(attrs.get("flexInteractionChannelSid") or "")
        if ch is not None:
            props = {
                "task_sid": task.sid,
                "worker_sid": worker.sid,
                "reservation_sid": res.sid if res else None,
            }
            part = InteractionParticipant(self.core.sid("UT"), "agent", props, identity)
            ch.participants[part.sid] = part

    def _on_task_ended(self, change: TaskChange) -> None:
        """The agent whose task wraps up (or completes) leaves its conversation, unless another
        assigned task of theirs is on it."""
        task, worker, ws = change.task, change.worker, change.workspace
        attrs = task.attrs
        conv_sid = attrs.get("conversationSid") or attrs.get("channelSid")
        if not conv_sid or worker is None:
            return
        wanted = (
            self.flags.remove_agent_on_wrapup
            if isinstance(change, TaskWrappedUp)
            else self.flags.remove_agent_on_complete
        )
        if not wanted:
            return
        others = [
            t
            for t in ws.tasks.values()
            if t.sid != task.sid
            and t.worker_sid == worker.sid
            and t.assignment_status == "assigned"
            and (t.attrs.get("conversationSid") or t.attrs.get("channelSid")) == conv_sid
        ]
        if not others:
            leave_conversation(
                self.conversations, conv_sid, worker_identity(worker.attributes, worker.friendly_name)
            )


def leave_conversation(cv: Conversations, conv_sid: str, identity: str | None) -> None:
    if not identity:
        return
    conv = cv.conversations.get(conv_sid)
    if conv is None or conv.state == "closed":
        return
    for p in list(conv.participants.values()):
        if p.identity == identity:
            cv.remove_participant(conv, p, Origin(fire=True))
