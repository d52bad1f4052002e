"""An in-memory Twilio behind `TwilioGateway`'s interface, for the handlers' unit and property tests.

It keeps what the service writes (conversations with their messages and attributes, TaskRouter
tasks) and what it was asked, and it passes every call through `network`, which decides when the
call lands and what the caller hears back: by default at once and "200 OK". A test's network may
pause the call (see `tests.support.interleave`), apply it and answer an error, or not apply it
yet and time out — the call then lands later, or never.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from worker.adapters.twilio_gateway import (
    NOTICE_AUTHOR,
    NotFound,
    TaskSnapshot,
    TwilioRejected,
    WorkerSnapshot,
)

T = TypeVar("T")
Network = Callable[[str, Callable[[], Any]], Any]
CONVERSATION_CLOSED = 50377


def immediate(_name: str, effect: Callable[[], T]) -> T:
    return effect()


@dataclass
class Message:
    author: str
    body: str
    attributes: dict[str, Any]


@dataclass
class Conversation:
    state: str = "active"
    attributes: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    closes: int = 0  # close requests that took effect


@dataclass
class FakeTask:
    sid: str
    status: str
    attributes: dict[str, Any]
    workflow_sid: str | None = None
    channel: str = "chat"
    priority: int | None = None
    revision: int = 0


class FakeTwilio:
    def __init__(self, network: Network = immediate) -> None:
        self.network = network
        self.conversations: dict[str, Conversation] = {}
        self.tasks: dict[str, FakeTask] = {}
        self.workers: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.refuse: dict[str, TwilioRejected] = {}  # call name -> a 4xx it answers, every time
        self._sids = itertools.count(0x500)

    # ---- the world ------------------------------------------------------------------------------

    def conversation(self, sid: str) -> Conversation:
        return self.conversations.setdefault(sid, Conversation())

    def notices(self, sid: str) -> list[str]:
        return [m.attributes.get("noticeKey", "") for m in self.conversation(sid).messages]

    def add_task(self, sid: str, status: str = "assigned", **attributes: Any) -> FakeTask:
        task = self.tasks[sid] = FakeTask(sid, status, dict(attributes))
        return task

    def _call(self, name: str, effect: Callable[[], T]) -> T:
        self.calls.append(name)
        if name in self.refuse:
            raise self.refuse[name]
        return self.network(name, effect)

    # ---- Conversations ----------------------------------------------------------------------------

    def post_message(self, conversation_sid: str, body: str, attributes: dict[str, Any]) -> str:
        def post() -> str:
            conversation = self.conversation(conversation_sid)
            if conversation.state == "closed":
                raise TwilioRejected(400, CONVERSATION_CLOSED, "closed")
            conversation.messages.append(Message(NOTICE_AUTHOR, body, dict(attributes)))
            return f"IM{len(conversation.messages):032x}"

        return self._call("post_message", post)

    def notice_keys_posted(self, conversation_sid: str, limit: int = 100) -> set[str]:
        return self._call("notice_keys_posted", lambda: set(self.notices(conversation_sid)[-limit:]))

    def conversation_attributes(self, conversation_sid: str) -> tuple[dict[str, Any], str]:
        def fetch() -> tuple[dict[str, Any], str]:
            conversation = self.conversation(conversation_sid)
            return json.loads(json.dumps(conversation.attributes)), conversation.state

        return self._call("conversation_attributes", fetch)

    def update_conversation(
        self, conversation_sid: str, *, attributes: dict[str, Any] | None = None, state: str | None = None
    ) -> None:
        def update() -> None:
            conversation = self.conversation(conversation_sid)
            if conversation.state == "closed":
                raise TwilioRejected(400, CONVERSATION_CLOSED, "Can't update a closed conversation")
            if attributes is not None:
                conversation.attributes = json.loads(json.dumps(attributes))
            if state is not None:
                conversation.state = state
                conversation.closes += state == "closed"

        self._call("close_conversation" if state == "closed" else "update_conversation", update)

    def close_interaction_channel(self, interaction_sid: str, channel_sid: str) -> None:
        self._call("close_interaction_channel", lambda: None)

    # ---- TaskRouter ---------------------------------------------------------------------------------

    def inflight_tasks_of(self, conversation_sid: str) -> list[str]:
        def listing() -> list[str]:
            return [
                t.sid
                for t in self.tasks.values()
                if t.status in ("pending", "reserved", "assigned")
                and conversation_sid in (t.attributes.get("conversationSid"), t.attributes.get("channelSid"))
            ]

        return self._call("inflight_tasks_of", listing)

    def open_task_sids(self, page_size: int = 1000) -> tuple[set[str], int]:
        def listing() -> tuple[set[str], int]:
            return {t.sid for t in self.tasks.values() if t.status in ("pending", "reserved", "assigned")}, 1

        return self._call("open_task_sids", listing)

    def tasks_marked(self, attribute: str, value: str) -> list[str]:
        return self._call(
            "tasks_marked",
            lambda: [t.sid for t in self.tasks.values() if t.attributes.get(attribute) == value],
        )

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        def fetch() -> TaskSnapshot:
            task = self.tasks.get(task_sid)
            if task is None:
                raise NotFound(404, 20404, f"task {task_sid} not found")
            return TaskSnapshot(
                sid=task.sid,
                assignment_status=task.status,
                attributes=json.loads(json.dumps(task.attributes)),
                workflow_sid=task.workflow_sid,
                task_channel=task.channel,
                revision=str(task.revision),
                priority=task.priority,
                timeout=None,
            )

        return self._call("fetch_task", fetch)

    def create_task(
        self,
        *,
        workflow_sid: str | None,
        task_channel: str,
        attributes: dict[str, Any],
        priority: int | None = None,
        timeout: int | None = None,
        routing_target: str | None = None,
    ) -> str:
        def create() -> str:
            sid = f"WT{next(self._sids):032x}"
            task = self.add_task(sid, "pending", **json.loads(json.dumps(attributes)))
            task.workflow_sid, task.channel, task.priority = workflow_sid, task_channel, priority
            return sid

        return self._call("create_task", create)

    def update_task_attributes(self, task_sid: str, attributes: dict[str, Any], if_match: str | None) -> None:
        def update() -> None:
            task = self.tasks[task_sid]
            task.attributes = json.loads(json.dumps(attributes))
            task.revision += 1

        self._call("update_task_attributes", update)

    def set_task_status(self, task_sid: str, status: str, reason: str) -> None:
        def update() -> None:
            self.tasks[task_sid].status = status

        self._call("set_task_status", update)

    def fetch_worker(self, worker_sid: str) -> WorkerSnapshot:
        return self._call(
            "fetch_worker",
            lambda: WorkerSnapshot(worker_sid, worker_sid, dict(self.workers.get(worker_sid, {}))),
        )

    def fetch_queue_name(self, queue_sid: str) -> str:
        return self._call("fetch_queue_name", lambda: f"Queue {queue_sid[-4:]}")
