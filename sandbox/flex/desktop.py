"""What an agent's Flex UI 2.x does to a chat, action by action (`AgentDesktop`), and what Flex
does when the customer of a chat left open on purpose writes again (`Resumption`).

Sources (cited again in ``sandbox/README.md``):

* End chat — an interaction task: Flex closes the interaction channel (as ``Status=closed`` on
  ``/Interactions/{KD}/Channels/{UO}``); an older chat: the task moves to wrapping and the Flex
  UI's ``wrapup`` orchestration DeactivateConversation closes the conversation (Flex project
  template ``feature-library/chat-transfer/flex-hooks/chat-orchestrator/wrapup.ts`` and its docs
  ``docs/docs/feature-library/chat-transfer.md``, "known issues").
* Leave (participant) — what the template's "Leave chat" does
  (``serverless-functions/.../conversation-transfer/flex/remove-participant.js``): the agent's
  interaction participant to ``closed`` (or ``wrapup``); an older chat: the task to wrapping and
  the Flex UI's LeaveConversation orchestration.
* Flex's Leave and Pause — "Leave and pause options for Conversations"; the 14-day limit of a
  paused task — "Configure the Leave and Pause options for email tasks".
* Park — "Park an interaction" and the template's ``park-interaction`` serverless functions
  (``park-interaction.js``, ``unpark-operations.private.js``): parking is that function's work
  over public APIs, which the sandbox plays for the agent and, when the customer writes, for the
  conversation-scoped webhook that unparks.
"""

from __future__ import annotations

import json

from ..conversations import Conversations, ConversationsEvent, Origin
from ..core import Core, Tick
from ..taskrouter import Task, TaskRouter, Workspace
from .engine import Flex
from .model import InteractionChannel, Paused, channel_made_for, channel_of_conversation, worker_identity
from .orchestration import leave_conversation

PAUSE_LIMIT = 14 * 24 * 3600  # a paused task is rerouted to the queue after 14 days


class AgentDesktop:
    def __init__(self, core: Core, flex: Flex) -> None:
        self.core = core
        self.flex = flex
        self.taskrouter: TaskRouter = flex.taskrouter
        self.conversations: Conversations = flex.conversations

    # ------------------------------------------------------------ helpers
    def _task(self, task_sid: str) -> tuple[Workspace, Task]:
        return self.taskrouter.find_task(task_sid)

    def _identity(self, ws: Workspace, task: Task) -> str | None:
        worker = ws.workers.get(task.worker_sid or "")
        return worker_identity(worker.attributes, worker.friendly_name) if worker else None

    def _conversation_sid(self, task: Task) -> str:
        sid = task.attrs.get("conversationSid") or task.attrs.get("channelSid")
        if not sid:
            raise LookupError(f"task {task.sid} names no conversation")
        return sid

    def _agent_origin(self, ws: Workspace, task: Task) -> Origin:
        return Origin(source="SDK", fire=True, client_identity=self._identity(ws, task))

    # ------------------------------------------------------------ actions
    def end_chat(self, task_sid: str) -> None:
        """Native End chat: the chat ends for everybody."""
        ws, task = self._task(task_sid)
        ch = channel_made_for(self.flex.channels, task)
        if ch is not None:
            self.flex.update_channel(ch, "closed", None)
            return
        if task.assignment_status == "assigned":
            self.taskrouter.wrapup(ws, task)
        conv = self.conversations.conversations.get(self._conversation_sid(task))
        if conv is not None and conv.state != "closed":
            self.conversations.update(conv, state="closed", origin=self._agent_origin(ws, task))

    def leave(self, task_sid: str, status: str = "closed") -> None:
        """The agent leaves; the conversation stays open for the others."""
        if status not in ("closed", "wrapup"):
            raise ValueError("status is closed or wrapup")
        ws, task = self._task(task_sid)
        ch = channel_made_for(self.flex.channels, task)
        if ch is not None:
            part = ch.agent(task.sid)
            if part is None:
                raise LookupError(f"no agent participant for task {task.sid} in channel {ch.sid}")
            self.flex.update_participant(ch, part, status)
            return
        self.taskrouter.wrapup(ws, task)
        leave_conversation(
            self.conversations,
            self._conversation_sid(task),
            self._identity(ws, task),
            self._agent_origin(ws, task),
        )

    def flex_leave(self, task_sid: str) -> None:
        """Flex's Leave: the agent is taken out of the conversation, their task goes to wrap-up,
        the channel becomes inactive and the conversation stays open (inactive)."""
        ws, task = self._task(task_sid)
        ch = self._interaction_channel(task)
        part = ch.agent(task.sid)
        if part is not None:
            self.flex.drop_agent(ch, part)
        if task.assignment_status == "assigned":
            self.taskrouter.wrapup(ws, task)
        ch.status = "inactive"
        conv = self.conversations.conversations.get(ch.conversation_sid)
        if conv is not None and conv.state == "active":
            self.conversations.update(conv, state="inactive", origin=Origin(fire=True))

    def pause(self, task_sid: str) -> None:
        """Flex's Pause: the agent's capacity is released (their task completes), they stay in the
        conversation, the channel is ``pause`` until they resume (a new task for them)."""
        ws, task = self._task(task_sid)
        ch = self._interaction_channel(task)
        if task.worker_sid is None or task.assignment_status not in ("assigned", "wrapping"):
            raise ValueError(f"task {task.sid} is {task.assignment_status}: only an agent's task pauses")
        self.taskrouter.complete(ws, task, "paused")
        ch.status = "pause"
        ch.paused = Paused(task.worker_sid, self.core.now())

    def park(self, task_sid: str) -> None:
        """The template's Park: the agent's interaction participant closed (task completed, agent
        out), the routing to resume with kept in the conversation's attributes."""
        ws, task = self._task(task_sid)
        ch = self._interaction_channel(task)
        part = ch.agent(task.sid)
        if part is None:
            raise LookupError(f"no agent participant for task {task.sid} in channel {ch.sid}")
        parked = {
            "interactionSid": ch.interaction_sid,
            "channelSid": ch.sid,
            "participantSid": part.sid,
            "taskSid": task.sid,
            "workflowSid": task.workflow_sid,
            "taskChannelUniqueName": self._channel_name(ws, task),
            "queueSid": task.task_queue_sid,
            "workerSid": task.worker_sid,
            "taskAttributes": task.attributes,
        }
        self.flex.update_participant(ch, part, "closed")
        conv = self.conversations.conversations.get(ch.conversation_sid)
        if conv is not None and conv.state != "closed":
            # a REST update by the serverless function, without X-Twilio-Webhook-Enabled
            self.conversations.update(conv, attributes=json.dumps(parked), origin=Origin(fire=False))
        ch.parked = parked

    def resume(self, conversation_sid: str) -> str:
        """The agent resumes a paused chat (a new task routed to them) or unparks a parked one
        (an invite with the parked routing); returns the new task's SID."""
        ch = channel_of_conversation(self.flex.channels, conversation_sid)
        if ch is None or (ch.paused is None and ch.parked is None):
            raise LookupError(f"conversation {conversation_sid} is neither paused nor parked")
        return self.flex.resume_channel(ch)

    # ------------------------------------------------------------- lookups
    def _interaction_channel(self, task: Task) -> InteractionChannel:
        ch = channel_made_for(self.flex.channels, task)
        if ch is None:
            raise LookupError(f"task {task.sid} is not a Flex Conversations (interaction) task")
        return ch

    @staticmethod
    def _channel_name(ws: Workspace, task: Task) -> str:
        tc = ws.channels.get(task.task_channel_sid)
        return tc.unique_name if tc else "default"


class Resumption:
    """Flex reopens a chat it left open on purpose: the customer writes to an inactive (Left)
    channel — a new task routed to any agent; to a parked one — the unpark invite; a paused one
    waits for its agent, or is rerouted to the queue after 14 days."""

    def __init__(self, core: Core, flex: Flex) -> None:
        self.core = core
        self.flex = flex
        core.subscribe(ConversationsEvent, self._on_conversations_event)
        core.subscribe(Tick, self._on_tick)

    def _on_conversations_event(self, event: ConversationsEvent) -> None:
        if event.event_type != "onMessageAdded" or event.origin.source != "SDK":
            return
        ch = channel_of_conversation(self.flex.channels, event.conversation.sid)
        if ch is None or not ch.routing or event.fields.get("Author") in self._agent_identities():
            return  # not an interaction's chat, one created without routing, or an agent writing
        if ch.status == "inactive" or ch.parked is not None:
            self.flex.resume_channel(ch, to_queue=True)

    def _on_tick(self, tick: Tick) -> None:
        for ch in list(self.flex.channels.values()):
            if ch.routing and ch.paused is not None and ch.paused.since + PAUSE_LIMIT <= tick.now:
                self.flex.resume_channel(ch, to_queue=True)

    def _agent_identities(self) -> set[str]:
        return {
            worker_identity(w.attributes, w.friendly_name)
            for ws in self.flex.taskrouter.workspaces.values()
            for w in ws.workers.values()
        }
