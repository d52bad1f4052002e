"""A Sentinel failover under load (issue 14): Redis replicated (a redis-server primary and replica,
three Sentinels, on loopback), the service pointed at the Sentinels, the primary SIGKILLed while
200 chats are in flight, Sentinel promoting the replica.

The failover is made to lose writes, deterministically: a moment before the kill the replica is
cut off (frozen, its link dropped by the primary), so everything the primary takes from then on
is gone once the replica is promoted. The service acknowledges only what a replica confirmed
(REDIS_WAIT_REPLICAS=1, worker.adapters.replication): meanwhile the receiver answers 503 and
Twilio delivers again, and no effect is performed on a write that may vanish. Once promoted, the
new master has no replica until the old primary, started again as its supervisor would, is made
its replica by Sentinel; until then nothing is acknowledged either.

TaskRouter's events are played by the test (tests/faults/events.py), so that "answered 2xx and
then lost" can be told from "never acknowledged": each chat has two tasks kept open in the
sandbox (reconciliation cannot close them for us); both are created and accepted, then both
completed, every event delivered once or twice and in a shuffled order. The kill comes while
the completions flow: every chat is in flight, ends are being committed, notices and closes
posted.

The same run over TLS (`rediss+sentinel://`, certificates from a CA the test makes, clients
presenting theirs), and a control run without REDIS_WAIT_REPLICAS that shows what it prevents.

And the same with two replicas, both cut off (so whichever Sentinel promotes lacks the last
writes, none of them acknowledged): Sentinel points the replica left behind at the promoted one,
and intake resumes once it is attached. The old primary is started again only after the first
2xx since the kill, so that figure is the promotion's alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from ops.localstack import LocalStack, wait_for
from ops.redis_ha import RedisHA, tls_unavailable
from tests.faults.events import (
    Answer,
    EventChat,
    FakeTaskRouter,
    all_joined,
    all_tracked,
    judge_event_chats,
    settle,
)
from tests.faults.figures import Figures

pytestmark = pytest.mark.faults

CHATS = 200
DUPLICATED = 0.3  # the share of events delivered twice
SETTLE = 240.0  # the slowest chat: a drainer cut off mid-drain holds its lease 60 s (docs/reliability.md)


@dataclass(frozen=True)
class Run:
    scenario: str
    tls: bool
    wait_replicas: int
    replicas: int = 1


RUNS = [
    Run("failover", tls=False, wait_replicas=1),
    Run("failover-two-replicas", tls=False, wait_replicas=1, replicas=2),
    Run("failover-tls", tls=True, wait_replicas=1),
    Run("failover-no-wait", tls=False, wait_replicas=0),
]


@pytest.fixture(params=RUNS, ids=[run.scenario for run in RUNS])
def deployment(request) -> Iterator[tuple[Run, RedisHA, LocalStack]]:
    run: Run = request.param
    if run.tls and tls_unavailable():
        pytest.skip(tls_unavailable())
    with RedisHA(tls=run.tls, replica_count=run.replicas) as ha:
        settings = {
            **ha.env(wait_replicas=run.wait_replicas, wait_timeout_ms=500),
            "BROKER_VISIBILITY_TIMEOUT_SECONDS": "10",
            "RECONCILE_INTERVAL_SECONDS": "2",
        }
        with LocalStack(
            redis_url=ha.url,
            settings=settings,
            worker_count=2,
            worker_concurrency=2,
            web_workers=3,
            beat=True,
        ) as stack:
            stack.sandbox.set_event_callback(None)  # TaskRouter's events come from the test alone
            yield run, ha, stack


def acknowledged_since(answers: list[Answer], since: float) -> list[float]:
    """When each delivery sent at or after `since` was answered 2xx, the earliest first."""
    return sorted(a.answered for a in answers if a.sent >= since and a.status and 200 <= a.status < 300)


class Failover:
    """Once `trigger()` holds: cut the replicas off, wait until the receiver has refused a few
    deliveries (or, without WAIT, acknowledged a few that will be lost), SIGKILL the primary, let
    Sentinel promote a replica, wait until the new master has a replica again, then (if not
    already) start the old primary again and wait until it is the new master's replica."""

    def __init__(self, ha: RedisHA, router: FakeTaskRouter, trigger: Callable[[], bool]) -> None:
        self.ha, self.router, self.trigger = ha, router, trigger
        self.cut_at = self.killed_at = self.promoted_at = self.replica_back_at = 0.0
        self.restarted_at = self.rejoined_at = 0.0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def answered_since_cut(self) -> int:
        return sum(1 for a in self.router.log.answers if a.sent > self.cut_at and a.status is not None)

    def rejoin_old_primary(self) -> None:
        self.restarted_at = time.monotonic()
        self.ha.rejoin_old_primary(timeout=120)
        self.rejoined_at = time.monotonic()

    def _run(self) -> None:
        try:
            wait_for(self.trigger, timeout=300, interval=0.05, what="the failover's moment")
            self.ha.cut_replica_off()
            self.cut_at = time.monotonic()
            wait_for(
                lambda: self.answered_since_cut() >= 20 and time.monotonic() - self.cut_at >= 1.0,
                timeout=120,
                what="deliveries answered while the replica is cut off",
            )
            self.killed_at = time.monotonic()
            self.ha.fail_over()
            self.promoted_at = time.monotonic()
            if len(self.ha.replicas) == 1:  # the promoted one has no replica until the old primary is back
                self._wait_failover_ended()
                self.rejoin_old_primary()
                self.replica_back_at = self.rejoined_at
                return
            self.ha.wait_replicated(timeout=120)  # the replica left behind, pointed at the promoted one
            self.replica_back_at = time.monotonic()
            wait_for(
                lambda: acknowledged_since(self.router.log.answers, self.killed_at),
                timeout=120,
                interval=0.05,
                what="a 2xx since the kill",
            )
            self._wait_failover_ended()
            self.rejoin_old_primary()
        except BaseException as error:  # reported by the test
            self.error = error

    def _wait_failover_ended(self) -> None:
        """An old primary started again inside the leader's failover was seen never to be made a
        replica (120 s, once with each replica count): its supervisor here waits for the end."""
        wait_for(self.ha.failover_ended, timeout=60, interval=0.05, what="every Sentinel done failing over")


def shuffled_with_duplicates(events: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    events = events + [e for e in events if rng.random() < DUPLICATED]
    rng.shuffle(events)
    return events


def test_a_failover_under_load_loses_nothing_acknowledged(deployment, figure_book):
    run, ha, stack = deployment
    rng = random.Random(f"failover-{run.scenario}")
    title = {
        "failover": "Sentinel failover under load, the last writes lost (WAIT for 1 replica)",
        "failover-two-replicas": "the same with two replicas, both cut off, the old primary down until a 2xx",
        "failover-tls": "the same over TLS (rediss+sentinel, client certificates)",
        "failover-no-wait": "the same without WAIT (REDIS_WAIT_REPLICAS=0): the control",
    }[run.scenario]
    figures = Figures(run.scenario, f"{title}, {CHATS} chats")
    processes = (stack.web, *stack.workers, stack.beat_process)
    router = FakeTaskRouter(stack, first_serial=3_000_000)
    chats: list[EventChat] = router.chats(CHATS, first=0)
    started = time.monotonic()

    # Phase 1: every chat starts: both tasks created and accepted, in any order, some twice.
    start = [e for chat in chats for e in router.created_events(chat) + router.accepted_events(chat)]
    router.deliver_all(shuffled_with_duplicates(start, rng))
    started_ok = settle(
        lambda: all_tracked(stack, chats)() and all_joined(stack, chats)(), SETTLE, "every chat started"
    )
    phases = {"started": round(time.monotonic() - started, 1)}

    # Phase 2: both tasks of every chat complete, in any order; the failover a third of the way in.
    completions = [router.event("task.completed", task, chat) for chat in chats for task in chat.tasks]
    conversation_of = {task: chat.conversation for chat in chats for task in chat.tasks}
    unsent = {chat.conversation: set(chat.tasks) for chat in chats}
    last_sent: dict[str, float] = {}  # chat -> when its last completion was first sent (sandbox clock)
    lock = threading.Lock()
    acknowledged_before = router.log.acknowledged
    failover = Failover(
        ha, router, lambda: router.log.acknowledged - acknowledged_before >= len(completions) // 3
    )

    def deliver(fields: dict[str, str]) -> None:
        conversation = conversation_of[fields["TaskSid"]]
        with lock:
            unsent[conversation].discard(fields["TaskSid"])
            if not unsent[conversation] and conversation not in last_sent:
                last_sent[conversation] = stack.sandbox.now()  # from now on the chat may end
        router.deliver(fields, patience=SETTLE)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(deliver, shuffled_with_duplicates(completions, rng)))
    failover.thread.join(timeout=300)
    assert failover.error is None, failover.error

    def all_ended() -> bool:
        return all(
            (state := stack.tracked(c.conversation)).get("ended") == "ended" and not state["outbox"]
            for c in chats
        )

    ended_ok = settle(all_ended, SETTLE if run.wait_replicas else 60.0, "every chat ended")
    phases["ended"] = round(time.monotonic() - started, 1)

    premature = []
    ended_once = 0
    for chat in chats:
        closes = [
            r.at
            for r in stack.sandbox.requests_to(product="conversations", method="POST")
            if r.params.get("State") == "closed" and r.path.endswith(chat.conversation)
        ]
        if closes and min(closes) < last_sent.get(chat.conversation, float("inf")):
            premature.append(chat.conversation)
        ended = stack.tracked(chat.conversation).get("ended") == "ended"
        ended_once += ended and len(closes) == 1
    verdict = judge_event_chats(stack, chats, premature)

    answers = router.log.answers

    def statuses(since: float, until: float) -> dict[str, int]:
        return dict(sorted(Counter(str(a.status) for a in answers if since <= a.sent < until).items()))

    after_kill = acknowledged_since(answers, failover.killed_at)
    notices: Counter[str] = Counter()
    for chat in chats:
        for notice in stack.notices(chat.conversation):
            notices[str(notice.get("noticeKey", "")).split(":")[0]] += 1
    figures.events_sent = router.log.events
    figures.faults.update({"replica_cut_off": len(ha.replicas), "primary_sigkill": 1})
    figures.chats, figures.lost, figures.doubled = CHATS, verdict.lost, verdict.doubled
    figures.premature_ends, figures.leaked_chats = verdict.premature, verdict.leaked
    figures.notes.update(
        wait_replicas=run.wait_replicas,
        replicas=len(ha.replicas),
        tls=run.tls,
        answers=dict(sorted(Counter(str(a.status) for a in answers).items())),
        answers_while_cut_off=statuses(failover.cut_at, failover.killed_at),
        answers_primary_down=statuses(failover.killed_at, failover.promoted_at),
        answers_promoted_no_replica_yet=statuses(failover.promoted_at, failover.replica_back_at),
        seconds_cut_off_before_kill=round(failover.killed_at - failover.cut_at, 1),
        seconds_kill_to_promotion=round(failover.promoted_at - failover.killed_at, 1),
        seconds_kill_to_replica_back=round(failover.replica_back_at - failover.killed_at, 1),
        seconds_kill_to_old_primary_back=round(failover.rejoined_at - failover.killed_at, 1),
        seconds_kill_to_first_2xx=round(after_kill[0] - failover.killed_at, 1) if after_kill else None,
        chats_ended_once=ended_once,
        notices_posted=dict(sorted(notices.items())),
        seconds_from_start_to=phases,
        retries_given_back=sum(w.log().count("retry not published") for w in stack.workers),
    )
    figure_book.record(figures)

    assert started_ok, "a chat never started"
    if not run.wait_replicas:
        # The control: events acknowledged while the replica was cut off died with the primary.
        assert figures.lost + figures.leaked_chats > 0, verdict.problems
        return
    assert ended_ok, verdict.problems[:5]
    assert {a.status for a in answers} <= {204, 503, None}
    # Acknowledged only what a replica had: while the replica was cut off, everything was refused.
    assert set(figures.notes["answers_while_cut_off"]) == {"503"}
    if len(ha.replicas) > 1:  # intake came back on the promotion alone, the old primary still down
        assert after_kill and after_kill[0] < failover.restarted_at
    assert verdict.problems == []
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert all(p.alive() for p in processes)  # the same processes carried on
    stack.sandbox.assert_faithful()
