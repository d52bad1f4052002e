"""What customers and agents do, for the `Sandbox` facade (a part of it): a customer starts a
chat, writes, leaves; an agent accepts, rejects, lets a reservation time out, writes, wraps up
through TaskRouter, or acts in the Flex UI (End chat, Leave, Flex's Leave / Pause, Park)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .conversations import Conversations, Origin
from .core import Core
from .flex import AgentDesktop, Flex, worker_identity
from .seeding import Chat, web_chat_task_attributes
from .taskrouter import TaskRouter, Worker, Workspace


class Actors:
    """Customers' and agents' actions (a part of `Sandbox`)."""

    core: Core
    taskrouter: TaskRouter
    conversations: Conversations
    flex: Flex
    desktop: AgentDesktop
    _workspace: Callable[[str | None], Workspace]
    wait_for: Callable[..., Any]
    reservations: Callable[..., list[dict]]

    # ------------------------------------------------------------ customers
    def start_chat(
        self,
        customer: str = "customer",
        *,
        first_message: str | None = "Hello, I need help",
        attributes: dict | None = None,
        channel_type: str = "web",
        interactions: bool = False,
        workflow_sid: str | None = None,
        task_channel: str = "chat",
        priority: int | None = None,
        timeout: int | None = None,
        workspace_sid: str | None = None,
    ) -> Chat:
        """A customer starts a web chat: conversation + customer participant (+ first
        message), then a task as Studio's Send to Flex makes it (attributes
        conversationSid, channelType, name...); with ``interactions=True`` through the
        Flex Interactions API (attributes also carry flexInteractionSid and
        flexInteractionChannelSid)."""
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            wf_sid = workflow_sid or next(
                (w.sid for w in ws.workflows.values() if w.friendly_name == "Assign to Anyone"),
                next(iter(ws.workflows), None),
            )
            cv = self.conversations
            sdk = Origin(source="SDK", fire=True, client_identity=customer)
            conv = cv.create(friendly_name=f"Chat with {customer}", attributes="{}", origin=Origin(fire=True))
            part = cv.add_participant(
                conv,
                identity=customer,
                attributes=json.dumps({"member_type": "guest"}),
                origin=Origin(fire=True),
            )
            if first_message:
                cv.add_message(conv, author=customer, body=first_message, origin=sdk)
            task_attrs = {**web_chat_task_attributes(customer, conv.sid, channel_type), **(attributes or {})}
            if interactions:
                routing = {
                    "properties": {
                        "workspace_sid": ws.sid,
                        "workflow_sid": wf_sid,
                        "task_channel_unique_name": task_channel,
                        "attributes": task_attrs,
                        **({"priority": priority} if priority is not None else {}),
                        **({"timeout": timeout} if timeout is not None else {}),
                    }
                }
                channel = {
                    "type": channel_type,
                    "initiated_by": "customer",
                    "properties": {"media_channel_sid": conv.sid},
                }
                inter = self.flex.create_interaction(channel, routing)
                task_sid = inter.routing["properties"]["sid"]
                return Chat(conv.sid, task_sid, customer, part.sid, ws.sid, inter.sid, inter.channel_sid)
            task = self.taskrouter.create_task(
                ws,
                workflow_sid=wf_sid,
                attributes=json.dumps(task_attrs),
                priority=priority,
                timeout=timeout,
                task_channel=task_channel,
            )
            return Chat(conv.sid, task.sid, customer, part.sid, ws.sid)

    def customer_message(
        self, conversation_sid: str, body: str, *, identity: str | None = None, attributes: dict | None = None
    ) -> str:
        """The customer writes in the chat (onMessageAdded, Source SDK); returns the IM sid."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            if identity is None:
                identity = next((p.identity for p in conv.participants.values() if p.identity), "customer")
            return self._sdk_message(conv, identity, body, attributes)

    def close_conversation(
        self, conversation_sid: str, *, state: str = "closed", by: str | None = None
    ) -> None:
        """The customer (or their app) ends the chat: the conversation moves to `state`
        (onConversationUpdated + onConversationStateUpdated fire)."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            origin = Origin(source="SDK", fire=True, client_identity=by, reason="API")
            self.conversations.update(conv, state=state, origin=origin)

    def customer_leave(
        self, conversation_sid: str, identity: str | None = None, *, close: bool = True
    ) -> None:
        """The customer leaves (onParticipantRemoved) and, by default, the chat is closed."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            for p in list(conv.participants.values()):
                if (identity and p.identity == identity) or (
                    identity is None and json.loads(p.attributes).get("member_type") == "guest"
                ):
                    self.conversations.remove_participant(
                        conv, p, Origin(source="SDK", fire=True, client_identity=p.identity)
                    )
                    identity = identity or p.identity
            if close and conv.state != "closed":
                self.close_conversation(conversation_sid, by=identity)

    # ---------------------------------------------------------------- agents
    def find_worker(self, worker_sid: str) -> tuple[Workspace, Worker]:
        return self.taskrouter.find_worker(worker_sid)

    def worker_sid(self, name: str) -> str:
        with self.core.lock:
            for ws in self.taskrouter.workspaces.values():
                for w in ws.workers.values():
                    if w.friendly_name == name:
                        return w.sid
        raise LookupError(f"no worker named {name}")

    def set_activity(self, worker_sid: str, activity: str) -> None:
        """Move a worker to an activity by name ("Available", "Offline", ...) or WA sid."""
        with self.core.lock:
            ws, w = self.find_worker(worker_sid)
            self.taskrouter.set_worker_activity(ws, w, self.taskrouter.activity_by_name(ws, activity).sid)

    def pending_reservation(
        self, task_sid: str | None = None, worker_sid: str | None = None, timeout: float = 5.0
    ) -> dict:
        """Wait for a pending reservation (of the task / for the worker) and return it."""
        return self.wait_for(
            lambda: next(
                iter(self.reservations(task_sid=task_sid, worker_sid=worker_sid, status="pending")), None
            ),
            timeout,
            f"no pending reservation for task={task_sid} worker={worker_sid}",
        )

    def _reservation(self, reservation_sid: str):
        for ws in self.taskrouter.workspaces.values():
            if reservation_sid in ws.reservations:
                return ws, ws.reservations[reservation_sid]
        raise LookupError(f"no reservation {reservation_sid}")

    def accept(self, reservation_sid: str) -> None:
        """The agent accepts (Flex then adds them to the conversation)."""
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            self.taskrouter.accept(ws, res)

    def reject(self, reservation_sid: str, activity: str | None = None) -> None:
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            act = self.taskrouter.activity_by_name(ws, activity).sid if activity else None
            self.taskrouter.reject(ws, res, act)

    def time_out(self, reservation_sid: str) -> None:
        """Let a pending reservation time out now (as if TaskReservationTimeout passed)."""
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            self.taskrouter.timeout_reservation(ws, res)

    def accept_task(self, task_sid: str, worker_sid: str | None = None, timeout: float = 5.0) -> str:
        """Wait for the task's pending reservation (for `worker_sid` if given), accept it; returns WR."""
        res = self.pending_reservation(task_sid=task_sid, worker_sid=worker_sid, timeout=timeout)
        self.accept(res["sid"])
        return res["sid"]

    def wrapup(self, task_sid: str, reason: str | None = None) -> None:
        """Task -> wrapping through TaskRouter only (as a REST call would): the chat is untouched,
        the agent stays in it. The agent's own actions are `agent_end_chat` / `agent_leave`."""
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.wrapup(ws, task, reason)

    def complete(self, task_sid: str, reason: str | None = "completed") -> None:
        """Task -> completed through TaskRouter only (the agent's Complete after wrap-up)."""
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.complete(ws, task, reason)

    def cancel_task(self, task_sid: str, reason: str | None = None) -> None:
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.cancel(ws, task, reason)

    def agent_end_chat(self, task_sid: str) -> None:
        """The agent's native End chat in Flex UI 2.x: the chat ends for everybody (an interaction
        task: its channel is closed — tasks not yet assigned canceled, assigned ones to wrap-up,
        conversation closed; an older chat: the task to wrap-up and the conversation closed)."""
        with self.core.lock:
            self.desktop.end_chat(task_sid)

    def agent_leave(self, task_sid: str, status: str = "closed") -> None:
        """The agent leaves, the chat goes on (the template's Leave chat): an interaction task's
        agent participant to `status` (``closed``: task completed, agent out of conversation and
        channel; ``wrapup``: task to wrap-up, agent out of the conversation); an older chat: the
        task to wrap-up and the agent out of the conversation."""
        with self.core.lock:
            self.desktop.leave(task_sid, status)

    def flex_leave(self, task_sid: str) -> None:
        """Flex's Leave: the agent out, their task to wrap-up, the channel inactive, the
        conversation open (inactive); the customer's next message routes a new task."""
        with self.core.lock:
            self.desktop.flex_leave(task_sid)

    def pause_chat(self, task_sid: str) -> None:
        """Flex's Pause: the task completes (capacity released), the agent stays in the chat, the
        channel is ``pause`` until `resume` (a new task for the same agent)."""
        with self.core.lock:
            self.desktop.pause(task_sid)

    def park(self, task_sid: str) -> None:
        """The template's Park an interaction: the agent's participant closed, the routing kept in
        the conversation's attributes; the customer's next message (or `resume`) invites."""
        with self.core.lock:
            self.desktop.park(task_sid)

    def resume(self, conversation_sid: str) -> str:
        """The agent resumes a paused chat or unparks a parked one; returns the new task's SID."""
        with self.core.lock:
            return self.desktop.resume(conversation_sid)

    def agent_message(
        self, conversation_sid: str, worker_sid: str, body: str, attributes: dict | None = None
    ) -> str:
        """The agent writes in the chat from Flex (onMessageAdded, Source SDK)."""
        with self.core.lock:
            _, w = self.find_worker(worker_sid)
            identity = worker_identity(w.attributes, w.friendly_name)
            return self._sdk_message(self.conversations.get(conversation_sid), identity, body, attributes)

    def _sdk_message(self, conv, identity: str, body: str, attributes: dict | None) -> str:
        """A message written from a Conversations SDK client (Source SDK, ClientIdentity)."""
        msg = self.conversations.add_message(
            conv,
            author=identity,
            body=body,
            attributes=json.dumps(attributes) if attributes else None,
            origin=Origin(source="SDK", fire=True, client_identity=identity),
        )
        return msg.sid
