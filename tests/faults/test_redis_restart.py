"""Redis restarted under load (issue 6, CONTRACT §4): the receiver answers 503 while it is down
and never acknowledges an event it could not queue; afterwards no acknowledged event is lost, and
the same web and worker processes carry on.

Redis is restarted the way a production Redis restarts: with its data (docker-compose runs it
with an append-only file; the embedded server here is told to save on shutdown). A Redis that
loses its data on restart loses every queued event and every tracked chat, whatever the service.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.faults.events import (
    EventChat,
    FakeTaskRouter,
    all_ended,
    all_joined,
    all_tracked,
    judge_event_chats,
    settle,
)
from tests.faults.figures import Figures

pytestmark = pytest.mark.faults

CHATS = 100
DOWN_SECONDS = 3.0  # how long Redis stays down at least (and until the receiver was seen refusing)
PERIOD = 2.0
# How long each phase may take to show every effect. A drainer that lost Redis mid-drain keeps
# its chat's outbox lease (60 s) until reconciliation re-drives it; a delivery whose claim Redis
# kept is refused until the claim runs out (30 s); and now and then a worker's consumer sits
# about two minutes after the restart before it takes messages again (kombu's Redis transport;
# nothing is lost, docs/reliability.md). Lost is what never comes.
SETTLE = 180.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"BROKER_VISIBILITY_TIMEOUT_SECONDS": "10", "RECONCILE_INTERVAL_SECONDS": str(PERIOD)}
    with LocalStack(
        worker_count=2, worker_concurrency=2, web_workers=3, beat=True, settings=settings
    ) as running:
        running.sandbox.set_event_callback(None)  # TaskRouter's events come from the test alone
        yield running


class Outage:
    """Stops Redis once `trigger()` is true, keeps it down until the receiver was seen answering
    503 for a while, then starts it again on the same port."""

    def __init__(self, stack: LocalStack, router: FakeTaskRouter, trigger: Callable[[], bool]) -> None:
        self.stack, self.router, self.trigger = stack, router, trigger
        self.down_at = self.up_at = 0.0
        self.readyz_while_down: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def refused(self) -> int:
        return sum(1 for a in self.router.log.answers if a.sent > self.down_at and a.status == 503)

    def _run(self) -> None:
        try:
            wait_for(self.trigger, timeout=120, what="the outage's moment")
            self.stack.redis.config_set("save", "3600 1")  # persist on shutdown, as production does
            self.stack._embedded.stop()
            self.down_at = time.monotonic()
            wait_for(
                lambda: self.refused() >= 20 and time.monotonic() - self.down_at >= DOWN_SECONDS,
                timeout=60,
                what="the receiver refusing events",
            )
            self.readyz_while_down = requests.get(f"{self.stack.base_url}/readyz", timeout=10).status_code
            self.up_at = time.monotonic()
            self.stack._embedded.start()
        except BaseException as error:  # reported by the test
            self.error = error


def where(stack: LocalStack, router: FakeTaskRouter, created: list[dict], chat: EventChat) -> dict:
    """For a failure's message: what became of the chat's task.created events not applied."""
    applied = stack.tracked(chat.conversation).get("tasks", {})
    queued = str(stack.redis.lrange("events", 0, -1)) + str(stack.redis.hgetall("unacked"))
    found = {}
    for event in created:
        if event["TaskSid"] in chat.tasks and event["TaskSid"] not in applied:
            found[event["TaskSid"]] = {
                "answers": [a.status for a in router.log.answers if a.event == event["Sid"]],
                "dedupe": stack.redis.get(f"cft:seen:taskrouter:{event['Sid']}"),
                "in_broker": event["Sid"] in queued,
            }
    return {"chat": chat.conversation, "missing": found}


def test_redis_restarted_mid_run_nothing_acknowledged_is_lost(stack, figure_book):
    figures = Figures("redis-restart", f"Redis restarted mid-run ({CHATS} chats, down ≥ {DOWN_SECONDS:g} s)")
    processes = (stack.web, *stack.workers, stack.beat_process)
    pids = [p.process.pid for p in processes]
    router = FakeTaskRouter(stack, first_serial=1_000_000)
    chats: list[EventChat] = router.chats(CHATS, first=0)
    started = time.monotonic()

    # Phase 1: every task is created, then accepted; Redis goes down a third of the way in.
    created = [event for chat in chats for event in router.created_events(chat)]
    outage = Outage(stack, router, lambda: router.log.acknowledged >= len(created) // 3)
    router.deliver_all(created)
    outage.thread.join(timeout=120)
    assert outage.error is None, outage.error
    tracked = settle(all_tracked(stack, chats), SETTLE, "every task tracked")
    phases = {"tracked": round(time.monotonic() - started, 1)}
    stuck = [where(stack, router, created, c) for c in chats if not all_tracked(stack, [c])()]
    router.deliver_all(event for chat in chats for event in router.accepted_events(chat))
    joined = settle(all_joined(stack, chats), SETTLE, "both agents of every chat announced")
    phases["joined"] = round(time.monotonic() - started, 1)
    stuck += [stack.tracked(c.conversation) for c in chats if not all_joined(stack, [c])()]

    # Phase 2: one task of each chat completes; no chat may end.
    router.deliver_all(router.event("task.completed", chat.tasks[0], chat) for chat in chats)
    settle(
        lambda: all(stack.tracked(c.conversation)["tasks"][c.tasks[0]]["status"] == "closed" for c in chats),
        SETTLE,
        "first completions applied",
    )
    premature = [c.conversation for c in chats if stack.tracked(c.conversation).get("ended")]

    # Phase 3: the other task completes; every chat ends, once.
    router.deliver_all(router.event("task.completed", chat.tasks[1], chat) for chat in chats)
    settle(all_ended(stack, chats), SETTLE, "every chat ended")
    verdict = judge_event_chats(stack, chats, premature)

    answers = router.log.answers
    while_down = [a for a in answers if a.sent >= outage.down_at and a.answered <= outage.up_at]
    first_after = min((a.answered for a in answers if a.sent >= outage.up_at and a.status == 204), default=0)
    figures.events_sent = router.log.events
    figures.faults.update({"redis_restart": 1})
    figures.chats, figures.lost, figures.doubled = CHATS, verdict.lost, verdict.doubled
    figures.premature_ends, figures.leaked_chats = verdict.premature, verdict.leaked
    figures.notes.update(
        answers=dict(sorted(Counter(str(a.status) for a in answers).items())),
        seconds_down=round(outage.up_at - outage.down_at, 1),
        answers_while_down=dict(Counter(str(a.status) for a in while_down)),
        answers_503_after_restart=sum(1 for a in answers if a.sent >= outage.up_at and a.status == 503),
        seconds_to_first_204_after_restart=round(first_after - outage.up_at, 2),
        seconds_from_start_to=phases | {"ended": round(time.monotonic() - started, 1)},
        retries_given_back=sum(w.log().count("retry not published") for w in stack.workers),
    )
    figure_book.record(figures)

    assert tracked and joined, json.dumps(stuck[:3])
    assert while_down and {a.status for a in while_down} == {503}  # never 2xx, never 500, while down
    assert outage.readyz_while_down == 503
    assert {a.status for a in answers} <= {204, 503}
    assert verdict.problems == []
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert [p.process.pid for p in processes] == pids  # nothing was restarted...
    assert all(p.alive() for p in processes)  # ...and nothing died
    stack.sandbox.assert_faithful()
