"""The atomic end, proven on a real Redis server with real OS processes (no fakeredis).

200 chats, two tasks each. Every chat's task A is tracked up front; task B is tracked up front
for half of them and by its own task.created (racing the completions) for the other half. The
completions - 30 % of all events delivered twice - are fired by several processes at once:
each round, the events of two chats go to different processes that start together at a
barrier. Each process does what a worker does: one `ConversationStore.transition` per event,
then the real drainer (`worker.handlers.outbox.drain`) works the chat's outbox under its fenced
lease, against a Twilio whose TaskRouter is a Redis set of the tasks still open (emptied before
each completion is delivered) and whose Conversations count the closes.

Counted: how many times each chat was ended (must be exactly 1), ends while TaskRouter still
had one of the chat's tasks open (0), chats left open (0), and how many transitions had to
start again because another process changed the same chat in between (the proof that the
processes really did collide).
"""

from __future__ import annotations

import logging
import multiprocessing
import random
from dataclasses import dataclass, field
from typing import Any

import redis

from ops.embedded_redis import EmbeddedRedis
from tests.support.drainers import RecordedQueue
from tests.support.settings import make_settings, sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.transfer_store import TransferStore
from worker.domain.model import CloseReason, ConversationState
from worker.handlers.deps import Deps
from worker.handlers.outbox import drain

CHATS = 200
PROCESSES = 4
DUPLICATED = 0.30
CHATS_PER_ROUND = 2
PREFIX = "proof:"

Event = tuple[str, str, str]  # (kind, chat, task): kind is "created" or "completed"


def chat_sid(n: int) -> str:
    return sid("CH", 0x1000 + n)


def tasks_of(n: int) -> tuple[str, str]:
    return sid("WT", 0x10000 + 2 * n), sid("WT", 0x10000 + 2 * n + 1)


def taskrouter_key(chat: str) -> str:
    return f"taskrouter:open:{chat}"


def closed_at_key(chat: str) -> str:
    return f"taskrouter:closed-at:{chat}"


@dataclass
class Outcome:
    ends: list[tuple[str, int]] = field(default_factory=list)  # (chat, logical time of the close)
    ends_called_off: int = 0
    transitions: int = 0
    attempts: int = 0
    events: int = 0


class CountingStore(ConversationStore):
    """The real store; counts transitions, and how often each had to run its change again."""

    def __init__(self, client: redis.Redis, outcome: Outcome) -> None:
        super().__init__(client, ttl_after_end=3600, prefix=PREFIX)
        self.outcome = outcome

    def transition(self, conversation_sid, change, *, create=True):  # type: ignore[no-untyped-def]
        def counted(state: ConversationState) -> Any:
            self.outcome.attempts += 1
            return change(state)

        self.outcome.transitions += 1
        return super().transition(conversation_sid, counted, create=create)


class RedisTwilio:
    """TaskRouter's open tasks are a Redis set per chat; a close is recorded with the logical time."""

    def __init__(self, client: redis.Redis, outcome: Outcome) -> None:
        self.redis = client
        self.outcome = outcome

    def inflight_tasks_of(self, chat: str) -> list[str]:
        return [t.decode() for t in self.redis.smembers(taskrouter_key(chat))]

    def post_message(self, chat: str, body: str, attributes: dict[str, Any]) -> str:
        self.redis.rpush(f"messages:{chat}", attributes["noticeKey"])
        return "IM1"

    def notice_keys_posted(self, chat: str) -> set[str]:
        return {key.decode() for key in self.redis.lrange(f"messages:{chat}", 0, -1)}

    def set_task_status(self, task: str, status: str, reason: str) -> None:
        pass  # a task created after its chat ended is canceled: here it has completed already

    def update_conversation(self, chat: str, *, attributes: Any = None, state: str | None = None) -> None:
        if state == "closed":
            self.outcome.ends.append((chat, int(self.redis.incr("clock"))))


class CalledOff(logging.Handler):
    """Counts the drainer's "end called off" (TaskRouter still had a task the chat never heard of)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += record.getMessage() == "end called off"


def _worker(url: str, owner: str, rounds: list[list[Event]], barrier: Any, results: Any) -> None:
    client = redis.Redis.from_url(url)
    outcome = Outcome()
    called_off = CalledOff()
    drainer_log = logging.getLogger("chat_transfer.outbox")
    drainer_log.setLevel(logging.INFO)
    drainer_log.addHandler(called_off)
    store = CountingStore(client, outcome)
    deps = Deps(
        settings=make_settings(mirror_associated_tasks=False),
        store=store,
        gateway=RedisTwilio(client, outcome),  # type: ignore[arg-type]
        redis=client,
        transfers=TransferStore(client),
        queue=RecordedQueue(),
        owner=owner,
    )
    try:
        for events in rounds:
            barrier.wait(timeout=60)
            for kind, chat, task in events:
                outcome.events += 1
                if kind == "created":
                    change: Any = lambda s, t=task: s.track(t)  # noqa: E731
                else:
                    # TaskRouter completes the task, then sends the event (maybe twice).
                    time_now = int(client.incr("clock"))
                    client.srem(taskrouter_key(chat), task)
                    client.hsetnx(closed_at_key(chat), task, time_now)
                    change = lambda s, t=task: s.close(t, CloseReason.COMPLETED)  # noqa: E731
                _, state = store.transition(chat, change)
                if state is not None:
                    drain(deps, chat, after=state)
        outcome.ends_called_off = called_off.count
        results.put((owner, outcome.__dict__))
    except BaseException as error:  # report, never hang the parent
        results.put((owner, {"error": repr(error)}))
        raise


def _rounds(rng: random.Random) -> list[list[list[Event]]]:
    """Per process, per round, the events it delivers; every round starts at a barrier."""
    order = list(range(CHATS))
    rng.shuffle(order)
    per_process: list[list[list[Event]]] = [[] for _ in range(PROCESSES)]
    for start in range(0, CHATS, CHATS_PER_ROUND):
        deliveries: list[Event] = []
        for n in order[start : start + CHATS_PER_ROUND]:
            a, b = tasks_of(n)
            events: list[Event] = [("completed", chat_sid(n), a), ("completed", chat_sid(n), b)]
            if n % 2:
                events.append(("created", chat_sid(n), b))
            deliveries += events + [e for e in events if rng.random() < DUPLICATED]
        rng.shuffle(deliveries)
        slots: list[list[Event]] = [[] for _ in range(PROCESSES)]
        for i, event in enumerate(deliveries):
            slots[i % PROCESSES].append(event)  # a chat's events land on different processes
        for p in range(PROCESSES):
            per_process[p].append(slots[p])
    return per_process


def test_many_processes_end_every_chat_exactly_once_never_early() -> None:
    rng = random.Random(20240611)
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        store = ConversationStore(client, ttl_after_end=3600, prefix=PREFIX)
        for n in range(CHATS):
            a, b = tasks_of(n)
            client.sadd(taskrouter_key(chat_sid(n)), a, b)
            # Task A's task.created was handled; B's too for even chats, raced for odd ones.
            store.transition(chat_sid(n), lambda s, a=a, b=b, n=n: (s.track(a), n % 2 or s.track(b)))

        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        plan = _rounds(rng)
        processes = [
            context.Process(target=_worker, args=(server.url, f"worker-{p}", plan[p], barrier, results))
            for p in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=240) for _ in processes]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"
        errors = [o for _, o in outcomes if "error" in o]
        assert not errors, errors

        ends: dict[str, list[int]] = {chat_sid(n): [] for n in range(CHATS)}
        for _, outcome in outcomes:
            for chat, when in outcome["ends"]:
                ends[chat].append(when)
        double_ends = sum(1 for whens in ends.values() if len(whens) > 1)
        premature = 0
        for chat, whens in ends.items():
            closed_at = {k.decode(): int(v) for k, v in client.hgetall(closed_at_key(chat)).items()}
            n = int(chat[2:], 16) - 0x1000
            if len(closed_at) < 2 or any(closed_at[t] > min(whens, default=0) for t in tasks_of(n)):
                premature += bool(whens)
        left_open = []
        for chat in ends:
            state = store.load(chat)
            assert state is not None
            if state.ended != "ended" or state.outbox or state.inflight():
                left_open.append(chat)
        events = sum(o["events"] for _, o in outcomes)
        transitions = sum(o["transitions"] for _, o in outcomes)
        restarted = sum(o["attempts"] for _, o in outcomes) - transitions
        called_off = sum(o["ends_called_off"] for _, o in outcomes)

        summary = (
            f"{CHATS} chats, {events} events over {PROCESSES} processes: "
            f"ended once {sum(len(w) == 1 for w in ends.values())}, double ends {double_ends}, "
            f"premature {premature}, left open {len(left_open)}; "
            f"{transitions} transitions, {restarted} restarted after a concurrent write, "
            f"{called_off} ends called off by TaskRouter's answer"
        )
        print(summary)
        assert double_ends == 0, summary
        assert premature == 0, summary
        assert left_open == [], (summary, [store.load(c) for c in left_open])
        assert all(len(whens) == 1 for whens in ends.values()), summary
        assert restarted > 0, f"the processes never collided: the test proved nothing. {summary}"
        assert client.zcard(store.active_key) == 0, client.zrange(store.active_key, 0, 5)
