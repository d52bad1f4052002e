"""Dedupe, then enqueue: what happens to a signed, valid event before the receiver answers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webhooks.metrics import ENQUEUE_SECONDS
from worker.adapters.intake_dedupe import Claim, IntakeDedupe
from worker.adapters.task_queue import TaskQueue


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
    dedupe: IntakeDedupe
    queue: TaskQueue

    def accept(self, task_name: str, event_id: str | None, payload: dict[str, Any]) -> Outcome:
        """Queue `payload` once per `event_id`; raises ServiceUnavailable when it could not be queued."""
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

    def check_ready(self) -> None:
        self.dedupe.ping()
        self.queue.ping()
