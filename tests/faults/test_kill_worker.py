"""A worker SIGKILLed under load, its whole process group, then started again (issue 6): nothing
lost, nothing doubled. Messages it had taken are acknowledged late, so Redis gives them back after
the visibility timeout; every handler is idempotent, so what it had half done is done once.

Chats with warm and cold transfers to agents and queues, the sandbox answering every REST call
40 ms late so that work is in flight when the worker dies; beat reconciles every two seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack, wait_for
from tests.faults.chats import (
    ChatPlayer,
    deliveries_since,
    judge,
    transfer_plans,
    two_worker_stack,
    wait_settled,
)
from tests.faults.figures import Figures

pytestmark = pytest.mark.faults

CHATS = 30
KILLS = 2
VISIBILITY = 10


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"BROKER_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY), "RECONCILE_INTERVAL_SECONDS": "2"}
    with two_worker_stack(settings) as running:
        yield running


def in_flight(log: str) -> set[str]:
    """Celery task ids the worker received and had not finished when its log stops."""
    received, finished = set(), set()
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        task_id = (entry.get("data") or {}).get("id")
        if not task_id:
            continue
        if entry["msg"].endswith("received"):
            received.add(task_id)
        elif entry["logger"] == "celery.app.trace":  # succeeded, retry, raised, reject
            finished.add(task_id)
    return received - finished


class Killer:
    """SIGKILLs worker1 (its process group) each time `when(n)` is true and it holds work, then
    starts it again."""

    def __init__(self, stack: LocalStack, when) -> None:
        self.stack, self.when = stack, when
        self.caught: list[int] = []  # messages in flight in the worker at each kill
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        worker = self.stack.workers[0]
        try:
            for n in range(KILLS):
                wait_for(lambda n=n: self.when(n) and in_flight(worker.log()), timeout=300, interval=0.01)
                worker.kill()
                self.caught.append(len(in_flight(worker.log())))
                worker.restart()
        except BaseException as error:  # reported by the test
            self.error = error


def test_a_worker_killed_under_load_loses_and_doubles_nothing(stack, figure_book):
    sb = stack.sandbox
    title = f"a worker SIGKILLed under load, twice ({CHATS} chats with transfers)"
    figures = Figures("worker-sigkill", title)
    player = ChatPlayer(stack, seed=605, patience=180)
    first_delivery = len(sb.deliveries())
    sb.faults.configure(seed=605, latency=0.04)
    killer = Killer(stack, lambda n: player.started >= CHATS * (n + 1) // (KILLS + 1))
    try:
        runs = player.play_many(transfer_plans(CHATS), parallel=6)
        killer.thread.join(timeout=300)
        last_kill = time.monotonic()
        wait_settled(runs, stack, timeout=60 + VISIBILITY + 60)  # a dead drainer's lease lasts 2T + S (50 s)
        settled_after = round(time.monotonic() - last_kill, 1)
    finally:
        sb.faults.reset()  # the latency is not a fault counted here: the kills are
    verdict = judge(stack, runs)
    figures.events_sent = len(deliveries_since(stack, first_delivery)) + player.transfer_posts
    figures.faults["worker_sigkill"] = len(killer.caught)
    figures.chats, figures.transfers = verdict.chats, verdict.transfers
    figures.lost, figures.doubled = verdict.lost, verdict.doubled
    figures.premature_ends, figures.leaked_chats = verdict.premature, verdict.leaked
    figures.notes.update(
        messages_in_flight_at_each_kill=killer.caught,
        seconds_from_the_last_chat_played_to_all_settled=settled_after,
        max_seconds_last_task_to_close=verdict.max_end_latency,
        joined_left_notices_missing=verdict.missing_agent_notices,
        twilio_latency_ms=40,
    )
    figure_book.record(figures)

    assert killer.error is None, killer.error
    assert len(killer.caught) == KILLS and all(killer.caught), killer.caught  # killed mid-work
    assert verdict.problems == []
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert all(w.alive() for w in stack.workers)
    sb.assert_faithful()
