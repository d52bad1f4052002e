"""Playing TaskRouter ourselves: signed events fired straight at the receiver, every answer kept.

For the scenarios that must tell "acknowledged and then lost" from "never acknowledged": each
chat (a real conversation in the sandbox) has two real tasks, created in the sandbox while its
event callback is off, so the only TaskRouter events the service hears are the ones fired here.
Every event has an effect we can see afterwards: `task.created` tracks its task,
`reservation.accepted` posts a joined notice, `task.completed` posts a left notice and, for the
last one, ends the chat. A 503 is sent again, as Twilio retries; a 2xx is never sent again.

The sandbox keeps the tasks open whatever the events say, so reconciliation (beat runs, as in
production) never closes a task for us: a completion that was acknowledged and then lost leaves
its chat open, and the test sees it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from twilio.rest import Client

from ops.localstack import LocalStack, wait_for
from tests.e2e.test_last_task_e2e import gateway_for
from tests.support.settings import sid
from tests.support.signing import twilio_signature
from worker.adapters.http_client import RoutedHttpClient

AGENT_NAMES = ("Alice Adams", "Bob Brown")


@dataclass
class Answer:
    sent: float
    answered: float
    status: int | None  # None: no answer (connection refused or reset)
    event: str = ""  # the event's Sid


@dataclass
class EventChat:
    conversation: str
    tasks: tuple[str, str]


@dataclass
class EventLog:
    answers: list[Answer] = field(default_factory=list)
    acknowledged: int = 0
    events: int = 0

    def statuses(self) -> Counter[int | None]:
        return Counter(a.status for a in self.answers)


class FakeTaskRouter:
    def __init__(self, stack: LocalStack, first_serial: int = 0, retry_pause: float = 0.1) -> None:
        self.stack = stack
        self.url = f"{stack.base_url}/webhooks/taskrouter"
        self.serial = first_serial
        self.retry_pause = retry_pause
        self.log = EventLog()
        self._lock = threading.Lock()
        self._local = threading.local()

    def chats(self, count: int, first: int) -> list[EventChat]:
        """Conversations with two open tasks each; the sandbox must not be sending its own events."""
        sb = self.stack.sandbox
        client = Client(sb.account_sid, sb.auth_token, http_client=RoutedHttpClient(sb.base_url))
        gateway = gateway_for(self.stack)
        chats = []
        for n in range(count):
            conversation = client.conversations.v1.conversations.create(
                friendly_name=f"events {first + n}"
            ).sid
            tasks = tuple(
                gateway.create_task(
                    workflow_sid=self.stack.setup.assign_to_anyone_workflow_sid,
                    task_channel="chat",
                    attributes={"conversationSid": conversation},
                )
                for _ in range(2)
            )
            chats.append(EventChat(conversation, tasks))  # type: ignore[arg-type]
        return chats

    def event(self, event_type: str, task_sid: str, chat: EventChat, **extra: str) -> dict[str, str]:
        with self._lock:
            self.serial += 1
            serial = self.serial
        return {
            "EventType": event_type,
            "Sid": sid("EV", serial),
            "AccountSid": self.stack.sandbox.account_sid,
            "WorkspaceSid": self.stack.setup.workspace_sid,
            "TaskSid": task_sid,
            "ResourceSid": task_sid,
            "TaskAttributes": json.dumps({"conversationSid": chat.conversation}),
            "TaskChannelUniqueName": "chat",
            **extra,
        }

    def created_events(self, chat: EventChat) -> list[dict[str, str]]:
        return [self.event("task.created", task_sid, chat) for task_sid in chat.tasks]

    def accepted_events(self, chat: EventChat) -> list[dict[str, str]]:
        events = []
        for n, (task_sid, full_name) in enumerate(zip(chat.tasks, AGENT_NAMES, strict=True)):
            identity = full_name.split()[0].lower()
            attributes = json.dumps({"contact_uri": f"client:{identity}", "full_name": full_name})
            events.append(
                self.event(
                    "reservation.accepted",
                    task_sid,
                    chat,
                    WorkerSid=sid("WK", n + 1),
                    WorkerAttributes=attributes,
                )
            )
        return events

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def deliver(self, fields: dict[str, str], patience: float = 120.0) -> None:
        """Post until acknowledged; only 503 (and no answer at all) is worth another try."""
        signature = twilio_signature(self.url, fields, self.stack.sandbox.auth_token)
        deadline = time.monotonic() + patience
        with self._lock:
            self.log.events += 1
        while True:
            sent = time.monotonic()
            try:
                status: int | None = (
                    self._session()
                    .post(self.url, data=fields, headers={"X-Twilio-Signature": signature}, timeout=30)
                    .status_code
                )
            except requests.ConnectionError:
                status = None
            with self._lock:
                self.log.answers.append(Answer(sent, time.monotonic(), status, fields["Sid"]))
                if status is not None and 200 <= status < 300:
                    self.log.acknowledged += 1
            if status is not None and status != 503:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"event {fields['Sid']} never acknowledged")
            time.sleep(self.retry_pause)  # Twilio's retry comes a little later

    def deliver_all(self, events: Iterable[dict[str, str]], threads: int = 12) -> None:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(self.deliver, events))


@dataclass
class EventVerdict:
    lost: int = 0
    doubled: int = 0
    premature: int = 0
    leaked: int = 0
    problems: list[str] = field(default_factory=list)


def state_of(stack: LocalStack, chat: EventChat) -> dict:
    return stack.tracked(chat.conversation)


def all_tracked(stack: LocalStack, chats: list[EventChat]) -> Callable[[], bool]:
    """Both tasks of every chat tracked in flight."""

    def done() -> bool:
        for chat in chats:
            tasks = state_of(stack, chat).get("tasks", {})
            if any(tasks.get(t, {}).get("status") != "inflight" for t in chat.tasks):
                return False
        return True

    return done


def all_joined(stack: LocalStack, chats: list[EventChat]) -> Callable[[], bool]:
    """Both agents joined every chat, and nothing is left to post."""

    def done() -> bool:
        for chat in chats:
            state = state_of(stack, chat)
            joined = [m for m in state.get("members", []) if m["state"] == "joined"]
            if len(joined) < 2 or state.get("outbox"):
                return False
        return True

    return done


def all_ended(stack: LocalStack, chats: list[EventChat]) -> Callable[[], bool]:
    def done() -> bool:
        return all(
            state_of(stack, c).get("ended") == "ended" and not state_of(stack, c)["outbox"] for c in chats
        )

    return done


def settle(predicate: Callable[[], bool], timeout: float, what: str) -> bool:
    try:
        wait_for(predicate, timeout=timeout, interval=0.2, what=what)
    except AssertionError:
        return False
    return True


def judge_event_chats(stack: LocalStack, chats: list[EventChat], premature: list[str]) -> EventVerdict:
    """After every event was acknowledged: each one's effect is there exactly once."""
    verdict = EventVerdict(premature=len(premature))
    verdict.problems += [f"ended while a task was in flight: {c}" for c in premature]
    for chat in chats:
        state = state_of(stack, chat)
        kinds = Counter(n.get("noticeKey", "").split(":")[0] for n in stack.notices(chat.conversation))
        keys = Counter(n.get("noticeKey") for n in stack.notices(chat.conversation))
        doubled = sum(count - 1 for count in keys.values())
        closes = [
            r
            for r in stack.sandbox.requests_to(product="conversations", method="POST")
            if r.params.get("State") == "closed" and r.path.endswith(chat.conversation)
        ]
        doubled += max(0, len(closes) - 1)
        missing = max(0, 2 - kinds["joined"]) + max(0, 2 - kinds["left"])
        closed = stack.sandbox.conversation(chat.conversation)["state"] == "closed"
        if not closed or state.get("ended") != "ended":
            verdict.leaked += 1
            verdict.problems.append(f"left open: {chat.conversation} {state.get('tasks')}")
        elif kinds["chat-ended"] == 0:
            missing += 1
        if missing or doubled:
            verdict.problems.append(
                f"{chat.conversation}: missing {missing}, doubled {doubled}: {dict(keys)}"
            )
        verdict.lost += missing
        verdict.doubled += doubled
    return verdict
