"""What the workers do, counted in Redis: workers are separate processes (on separate machines),
so their counters live where every one of them writes and the receiver's `/metrics` reads them
(`webhooks.metrics.WorkerCollector`), as reconciliation's totals do.

A counter that cannot be written (Redis down) is skipped with a log line: figures never stop work.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any

import redis

log = logging.getLogger("chat_transfer.metrics")

STEP_FAILURES_KEY = "cft:metrics:step-failures"  # "step|status" -> steps Twilio failed
RETRIES_KEY = "cft:metrics:retries"  # task name -> Celery retries
PARKED_KEY = "cft:metrics:parked"  # task name -> retries parked for beat (longer than the broker holds)
DEAD_LETTERS_KEY = "cft:metrics:dead-letters"  # kind -> work given up and kept as a dead letter
UNEXPECTED_KEY = "cft:metrics:unexpected-errors"  # "where|ExceptionType" -> unexpected exceptions
END_STEPS_SKIPPED_KEY = "cft:metrics:end-steps-skipped"  # step -> end steps skipped (rule 9)
COUNTERS_KEY = "cft:metrics:counters"  # name -> everything else (outbox leases lost, ...)
CLOSE_SECONDS_KEY = "cft:metrics:close-seconds"  # a histogram: bucket -> count, "sum", "count"
OUTBOX_DEPTH_KEY = "cft:metrics:outbox-depth"  # conversation -> items queued (chats with work only)
CLOSE_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


def step_label(step: str, status: int | None) -> str:
    return f"{step}|{status if status is not None else 'no-answer'}"


class WorkerMetrics:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def _increment(self, key: str, name: str, by: float = 1) -> None:
        try:
            self.redis.hincrby(key, name, int(by))
        except redis.RedisError as error:
            log.warning("metric not counted", extra={"metric": key, "error": str(error)})

    def step_failed(self, step: str, status: int | None) -> None:
        """A step Twilio failed (rule 8): by what the step was and Twilio's status code."""
        self._increment(STEP_FAILURES_KEY, step_label(step, status))

    def retried(self, task: str) -> None:
        self._increment(RETRIES_KEY, task)

    def parked(self, task: str) -> None:
        self._increment(PARKED_KEY, task)

    def dead_letter(self, kind: str) -> None:
        self._increment(DEAD_LETTERS_KEY, kind)

    def unexpected(self, where: str, error: BaseException) -> None:
        self._increment(UNEXPECTED_KEY, f"{where}|{type(error).__name__}")

    def count(self, name: str) -> None:
        self._increment(COUNTERS_KEY, name)

    def observe_close(self, seconds: float) -> None:
        """Time from a chat's last task ending (the end decided) to the chat closed."""
        index = bisect.bisect_left(CLOSE_BUCKETS, seconds)
        bucket = str(CLOSE_BUCKETS[index]) if index < len(CLOSE_BUCKETS) else "+Inf"
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(CLOSE_SECONDS_KEY, bucket, 1)
            pipe.hincrby(CLOSE_SECONDS_KEY, "count", 1)
            pipe.hincrbyfloat(CLOSE_SECONDS_KEY, "sum", max(0.0, seconds))
            pipe.execute()
        except redis.RedisError as error:
            log.warning("metric not counted", extra={"metric": CLOSE_SECONDS_KEY, "error": str(error)})


def under(prefix: str, key: str) -> str:
    """`key` for a store whose keys start with `prefix` (the service's own: "cft:")."""
    return prefix + key.removeprefix("cft:")


def count_given_up(pipe: Any, prefix: str, kind: str, skipped: bool, step: str | None) -> None:
    """In a store's transaction: an outbox item given up (a dead letter) or an end step skipped."""
    if skipped:
        pipe.hincrby(under(prefix, END_STEPS_SKIPPED_KEY), step or kind, 1)
    else:
        pipe.hincrby(under(prefix, DEAD_LETTERS_KEY), f"outbox-{kind}", 1)
