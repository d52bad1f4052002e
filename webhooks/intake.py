"""Dedupe, then enqueue: what happens to a signed, valid event before the receiver answers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webhooks.metrics import ENQUEUE_SECONDS
from worker.adapters.intake_dedupe import Claim, IntakeDedupe
from worker.adapters.redis_clients import RedisTarget
from worker.adapters.task_queue import CeleryTaskQueue, TaskQueue


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"


def body_digest(url: str, fields: dict[str, Any]) -> str:
    hasher = hashlib.sha256(url.encode())
    for name in sorted(fields):
        hasher.update(b"\0" + name.encode() + b"\0" + str(fields[name]).encode())
    return hasher.hexdigest()


@dataclass
class EventIntake:
    """Queue each event once. With a Redis broker that is the state Redis (`one_step`, the
    default deployment) the message is pushed and the event marked seen in one Redis script;
    otherwise (RabbitMQ, another Redis) through claim → Celery → mark, see IntakeDedupe."""

    dedupe: IntakeDedupe
    queue: TaskQueue
    one_step: bool = False

    @classmethod
    def for_broker(
        cls, dedupe: IntakeDedupe, queue: TaskQueue, state_redis: RedisTarget | str
    ) -> EventIntake:
        one_step = isinstance(queue, CeleryTaskQueue) and queue.is_redis_at(state_redis)
        return cls(dedupe, queue, one_step)

    def accept(self, task_name: str, event_id: str | None, payload: dict[str, Any]) -> Outcome:
        """Queue `payload` once per `event_id`; raises ServiceUnavailable when it could not be queued."""
        if self.one_step and event_id is not None:
            return self._accept_in_one_step(task_name, event_id, payload)
        if event_id is not None and self.dedupe.claim(event_id) is Claim.DUPLICATE:
            return Outcome.DUPLICATE
        started = time.perf_counter()
        try:
            self.queue.enqueue(task_name, payload)
        except Exception:
            if event_id is not None:
                self.dedupe.release(event_id)
            raise
        ENQUEUE_SECONDS.observe(time.perf_counter() - started)
        if event_id is not None:
            self.dedupe.mark_queued(event_id)
        return Outcome.QUEUED

    def _accept_in_one_step(self, task_name: str, event_id: str, payload: dict[str, Any]) -> Outcome:
        assert isinstance(self.queue, CeleryTaskQueue)
        started = time.perf_counter()
        list_key, message = self.queue.redis_message(task_name, payload)
        if not self.dedupe.queue_once(event_id, list_key, message):
            return Outcome.DUPLICATE
        ENQUEUE_SECONDS.observe(time.perf_counter() - started)
        return Outcome.QUEUED

    def accept_batch(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[Outcome]:
        """Queue each (task name, event id, payload) once per event id, all or none in one Redis
        round trip with the one-step path. Otherwise event by event: those queued before a failure
        stay queued (and marked), so the retried batch finds them duplicates. Raises
        ServiceUnavailable unless every event is queued now or was before."""
        if not self.one_step:
            return [self.accept(task_name, event_id, payload) for task_name, event_id, payload in items]
        assert isinstance(self.queue, CeleryTaskQueue)
        started = time.perf_counter()
        batch = []
        for task_name, event_id, payload in items:
            list_key, message = self.queue.redis_message(task_name, payload)
            batch.append((event_id, list_key, message))
        pushed = self.dedupe.queue_batch_once(batch)
        if any(pushed):
            ENQUEUE_SECONDS.observe(time.perf_counter() - started)
        return [Outcome.QUEUED if new else Outcome.DUPLICATE for new in pushed]

    def check_ready(self) -> None:
        self.dedupe.ping()
        self.queue.ping()
