"""A retry asked for longer than the broker's visibility timeout (issue 12, defect 5; CONTRACT §6
rule 10): one transfer task per transfer.

Real processes: redis-server, the receiver, two celery workers, beat reconciling every two
seconds, the broker's visibility timeout 10 s. Twilio answers each transfer's first task creation
429 with Retry-After 20 s, and takes a second over every task creation. Before the fix the worker
asked Celery for a 20 s countdown: Redis delivered the message at once, the worker held it
unacknowledged past the visibility timeout, Redis restored it, another worker took the copy, and
at the due time both copies ran the transfer — both found no task with its marker and both made
one. Now a wait the broker cannot hold is parked in Redis and sent again by beat when due, and a
per-transfer lock keeps a second copy, whatever brings it, from running the steps at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack
from tests.faults.chats import ChatPlayer, injected, judge, transfer_plans, two_worker_stack, wait_settled
from tests.faults.figures import Figures
from tests.faults.test_webhook_faults import fill

pytestmark = pytest.mark.faults

TRANSFERS = 4
VISIBILITY = 10
RETRY_AFTER = 20
TASKS = r"^/taskrouter/v1/Workspaces/[^/]+/Tasks$"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"BROKER_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY), "RECONCILE_INTERVAL_SECONDS": "2"}
    with two_worker_stack(settings) as running:
        yield running


def test_a_retry_after_past_the_visibility_timeout_makes_one_transfer_task(stack, figure_book):
    sb = stack.sandbox
    title = f"Twilio's Retry-After ({RETRY_AFTER} s) past the broker's visibility timeout ({VISIBILITY} s)"
    figures = Figures("retry-past-visibility", title)
    seed = 614
    first_delivery = len(sb.deliveries())
    player = ChatPlayer(stack, seed, patience=180)
    slow_creates = {"latency": 1.0, "path": TASKS, "methods": ["POST"], "retry_after": RETRY_AFTER}
    with injected(stack, figures.faults, seed, **slow_creates):
        sb.faults.fail_next(TRANSFERS, status=429, path=TASKS, method="POST")
        runs = player.play_many(transfer_plans(TRANSFERS), parallel=TRANSFERS)
        wait_settled(runs, stack, timeout=120)
    figures.faults.pop("latency", None)  # the slow creations set the scene; the 429s are the faults
    verdict = judge(stack, runs)
    fill(figures, verdict, stack, first_delivery, player.transfer_posts)
    parked = stack.redis.hgetall("cft:metrics:parked")
    figures.notes.update(
        retries_parked_for_beat=int(parked.get("chat_transfer.transfers.run", 0)),
        parked_retries_sent_by_beat=int(stack.redis.hget("cft:reconcile:totals", "parked_redriven") or 0),
    )
    figure_book.record(figures)
    assert figures.faults["http_429"] == TRANSFERS
    assert verdict.problems == []
    assert verdict.transfers == TRANSFERS
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert figures.notes["retries_parked_for_beat"] == TRANSFERS
