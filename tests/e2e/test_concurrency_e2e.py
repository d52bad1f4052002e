"""200 chats, two tasks each, completions fired at once in random order with duplicates, on two
worker processes: 0 premature ends, 0 chats left open, 0 double ends, 0 duplicate notices.

The test plays TaskRouter itself (signed events straight to the receiver, so it controls
timing and duplication); the sandbox is the Conversations API the workers post to and close.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.rest import Client

from ops.localstack import LocalStack, wait_for
from tests.support.settings import sid
from tests.support.signing import twilio_signature
from worker.adapters.http_client import RoutedHttpClient

pytestmark = pytest.mark.e2e

CHATS = 200
DUPLICATE_RATE = 0.3
AGENTS = [("alice", "Alice Adams"), ("bob", "Bob Brown")]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(worker_count=2, worker_concurrency=2, web_workers=3) as running:
        yield running


class FakeTaskRouter:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.url = f"{stack.base_url}/webhooks/taskrouter"
        self.session = requests.Session()
        self.serial = 0

    def event(self, event_type: str, task_sid: str, conversation: str, **extra: str) -> dict[str, str]:
        self.serial += 1
        return {
            "EventType": event_type,
            "Sid": sid("EV", self.serial),
            "AccountSid": self.stack.sandbox.account_sid,
            "WorkspaceSid": self.stack.setup.workspace_sid,
            "TaskSid": task_sid,
            "ResourceSid": task_sid,
            "TaskAttributes": json.dumps({"conversationSid": conversation}),
            "TaskChannelUniqueName": "chat",
            **extra,
        }

    def post(self, fields: dict[str, str]) -> int:
        signature = twilio_signature(self.url, fields, self.stack.sandbox.auth_token)
        return self.session.post(
            self.url, data=fields, headers={"X-Twilio-Signature": signature}, timeout=30
        ).status_code

    def post_all(self, events: list[dict[str, str]]) -> None:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(self.post, events))
        assert set(statuses) == {204}, Counter(statuses)


def test_two_hundred_chats_end_exactly_once(stack):
    rng = random.Random(20261125)
    sandbox = stack.sandbox
    client = Client(sandbox.account_sid, sandbox.auth_token, http_client=RoutedHttpClient(sandbox.base_url))
    taskrouter = FakeTaskRouter(stack)
    chats = {}
    for n in range(CHATS):
        conversation = client.conversations.v1.conversations.create(friendly_name=f"load {n}").sid
        chats[conversation] = (sid("WT", 10_000 + 2 * n), sid("WT", 10_001 + 2 * n))

    setup_events = []
    for conversation, tasks in chats.items():
        for task_sid, (identity, full_name) in zip(tasks, AGENTS, strict=True):
            setup_events.append(taskrouter.event("task.created", task_sid, conversation))
            setup_events.append(
                taskrouter.event(
                    "reservation.accepted",
                    task_sid,
                    conversation,
                    WorkerSid=sid("WK", hash(identity) & 0xFFFF),
                    WorkerAttributes=json.dumps(
                        {"contact_uri": f"client:{identity}", "full_name": full_name}
                    ),
                )
            )
    rng.shuffle(setup_events)  # a reservation.accepted may well arrive before its task.created
    taskrouter.post_all(setup_events)
    wait_for(
        lambda: all(
            len(stack.tracked(c).get("tasks", {})) == 2 and not stack.tracked(c)["outbox"] for c in chats
        ),
        timeout=180,
        what="every chat tracking two tasks with its notices posted",
    )

    # Phase 1: one task of half the chats completes. No chat may end.
    half = rng.sample(sorted(chats), CHATS // 2)
    first_done = {conversation: rng.choice(chats[conversation]) for conversation in half}
    taskrouter.post_all([taskrouter.event("task.completed", t, c) for c, t in first_done.items()])
    wait_for(
        lambda: all(stack.tracked(c)["tasks"][t]["status"] == "closed" for c, t in first_done.items()),
        timeout=120,
        what="first completions applied",
    )
    premature = [c for c in chats if stack.tracked(c)["ended"] is not None]

    # Phase 2: every other completion at once, shuffled, 30 % delivered twice, plus wrap-up twins.
    finals = []
    for conversation, tasks in chats.items():
        for task_sid in tasks:
            if first_done.get(conversation) == task_sid:
                continue
            event = taskrouter.event("task.completed", task_sid, conversation)
            finals.append(event)
            if rng.random() < DUPLICATE_RATE:
                finals.append(dict(event))  # the same delivery again (same Sid)
            if rng.random() < DUPLICATE_RATE:
                finals.append(
                    taskrouter.event("task.wrapup", task_sid, conversation)
                )  # another signal, same close
    rng.shuffle(finals)
    taskrouter.post_all(finals)
    wait_for(
        lambda: all(
            stack.tracked(c).get("ended") == "ended" and not stack.tracked(c)["outbox"] for c in chats
        ),
        timeout=300,
        what="every chat ended",
    )

    left_open = [c for c in chats if sandbox.conversation(c)["state"] != "closed"]
    closes = Counter(
        r.path.rsplit("/", 1)[-1]
        for r in sandbox.requests_to(product="conversations", method="POST")
        if r.params.get("State") == "closed"
    )
    double_ends = [c for c in chats if closes[c] != 1]
    duplicate_notices = 0
    ended_notices = Counter()
    for conversation in chats:
        keys = Counter(n["noticeKey"] for n in stack.notices(conversation))
        duplicate_notices += sum(count - 1 for count in keys.values())
        ended_notices[conversation] = keys["chat-ended"]
    print(
        f"\nconcurrency: chats={CHATS} events={len(setup_events) + len(first_done) + len(finals)} "
        f"premature_ends={len(premature)} left_open={len(left_open)} double_ends={len(double_ends)} "
        f"duplicate_notices={duplicate_notices}"
    )
    assert premature == []
    assert left_open == []
    assert double_ends == []
    assert duplicate_notices == 0
    assert set(ended_notices.values()) == {1}
    joined = Counter(n["notificationType"] for c in chats for n in stack.notices(c))
    assert (joined["joined"], joined["left"]) == (2 * CHATS, 2 * CHATS)  # whatever the order events came in
    sandbox.assert_faithful()
