"""No retry outlives the broker's visibility timeout (issue 12, defect 5).

On Redis, a message with a countdown is delivered at once and held unacknowledged until it is
due; held longer than the visibility timeout, it is restored and delivered again, so the job runs
twice. Every countdown the workers ask Celery for therefore stays within a share of the visibility
timeout (the rest is for the run itself); a longer wait (Twilio's Retry-After) is parked in Redis
and re-driven by beat's reconciliation when it is due.
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import fakeredis
import pytest
from celery.exceptions import Retry
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.settings import import_worker_tasks
from worker.adapters.deferred import DeferredWork
from worker.adapters.http_client import TwilioTransient
from worker.domain.retry import backoff_seconds, countdown_limit, plan_retry

VISIBILITY = 300


@pytest.fixture(scope="module")
def tasks():
    with pytest.MonkeyPatch.context() as patch:
        module = import_worker_tasks(patch)
        assert module.SETTINGS.broker_visibility_timeout_seconds == VISIBILITY
        yield module


class RecordingTask:
    name = "chat_transfer.transfers.run"

    def __init__(self, retries: int) -> None:
        self.request = SimpleNamespace(retries=retries)
        self.countdowns: list[float] = []

    def retry(self, exc: BaseException, countdown: float, throw: bool = True) -> Retry:
        self.countdowns.append(countdown)
        return Retry(exc=exc, when=countdown)


@settings(max_examples=300, deadline=None)
@given(
    retries=st.integers(0, 11),  # below TASK_MAX_RETRIES (12): then a dead letter
    retry_after=st.one_of(st.none(), st.floats(0, 10_000, allow_nan=False)),
    seed=st.integers(0, 2**32),
)
def test_a_retry_through_the_broker_never_outlives_the_visibility_timeout(
    tasks, retries: int, retry_after: float | None, seed: int
) -> None:
    parked = fakeredis.FakeRedis()
    task = RecordingTask(retries)
    error = TwilioTransient(429, retry_after)
    random.seed(seed)

    def twilio_says_wait() -> None:
        raise error

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "process_deps", lambda: SimpleNamespace(redis=parked))
        try:
            tasks.run(task, {"transferId": "T1"}, twilio_says_wait)
            retried = False
        except Retry:
            retried = True
    limit = countdown_limit(VISIBILITY)
    waiting = DeferredWork(parked).all()
    if retried:
        assert waiting == []
        (countdown,) = task.countdowns
        assert countdown <= limit < VISIBILITY
        assert countdown >= (retry_after or 0.0)  # never sooner than Twilio asked
    else:
        # Only a wait the broker cannot hold is parked, and then no sooner than asked either.
        assert task.countdowns == []
        assert retry_after is not None and retry_after > limit
        (entry,) = waiting
        assert entry.task == task.name and entry.payload == {"transferId": "T1"}
        assert entry.retries == retries + 1
        assert entry.due >= entry.parked_at + retry_after


@given(retries=st.integers(0, 2_000), first=st.floats(0.01, 10), seed=st.integers(0, 2**32))
def test_backoff_jitter_stays_under_its_cap(retries: int, first: float, seed: int) -> None:
    wait = backoff_seconds(retries, first, cap=300.0, rng=random.Random(seed))
    assert 0 < wait <= 300.0


def test_the_plan_keeps_a_share_of_the_visibility_timeout_for_the_run() -> None:
    assert countdown_limit(300) == 225.0
    rng = random.Random(1)
    assert plan_retry(0, None, first=0.5, visibility_timeout=300, rng=rng).countdown is not None
    plan = plan_retry(3, 600.0, first=0.5, visibility_timeout=300, rng=rng)
    assert (plan.countdown, plan.park_for) == (None, 600.0)
    assert plan_retry(30, None, first=0.5, visibility_timeout=10, rng=rng).countdown == 7.5


def test_parked_work_is_taken_once_when_due() -> None:
    client = fakeredis.FakeRedis()
    work = DeferredWork(client)
    work.park("chat_transfer.transfers.run", {"transferId": "T1"}, retries=4, due=100.0, now=40.0)
    work.park("chat_transfer.transfers.run", {"transferId": "T2"}, retries=1, due=200.0, now=40.0)
    assert work.take_due(99.0) == []
    (due,) = work.take_due(150.0)
    assert (due.payload, due.retries, due.due) == ({"transferId": "T1"}, 4, 100.0)
    assert work.take_due(150.0) == []
    assert [entry.payload["transferId"] for entry in work.all()] == ["T2"]
    raw = client.zrange(work.key, 0, -1)
    assert json.loads(raw[0])["task"] == "chat_transfer.transfers.run"
