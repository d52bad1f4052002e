"""A redelivery is acknowledged as a duplicate only once an earlier delivery really queued the
event (found by the Redis-restart scenario of the fault suite: Redis went away between an
event's claim and its enqueue, the claim could not be released, and the retry was answered 204
without anything queued)."""

from __future__ import annotations

import threading
import time

import fakeredis
import pytest
import redis

from webhooks.intake import EventIntake, Outcome
from worker.adapters.intake_dedupe import IntakeDedupe
from worker.domain.errors import ServiceUnavailable


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.down = False

    def enqueue(self, _task_name: str, payload: dict) -> None:
        if self.down:
            raise ServiceUnavailable("broker unreachable: test")
        self.sent.append(payload)

    def ping(self) -> None: ...


class RedisThatLosesDeletes(fakeredis.FakeRedis):
    """Redis going away right after the claim: the release of the claim fails."""

    def delete(self, *names):
        raise redis.ConnectionError("Connection refused")


def test_a_claim_left_by_a_failed_enqueue_is_not_acknowledged_as_a_duplicate():
    client = RedisThatLosesDeletes()
    queue = Queue()
    intake = EventIntake(IntakeDedupe(client, ttl_seconds=3600), queue)
    queue.down = True
    with pytest.raises(ServiceUnavailable):
        intake.accept("task", "taskrouter:EV1", {"n": 1})
    queue.down = False
    # Twilio's retry of the same event: the stale claim is still there.
    with pytest.raises(ServiceUnavailable):
        intake.accept("task", "taskrouter:EV1", {"n": 1})
    assert queue.sent == []
    client.expire("cft:seen:taskrouter:EV1", 0)  # the claim runs out (CLAIM_SECONDS)
    assert intake.accept("task", "taskrouter:EV1", {"n": 1}) is Outcome.QUEUED
    assert intake.accept("task", "taskrouter:EV1", {"n": 1}) is Outcome.DUPLICATE
    assert queue.sent == [{"n": 1}]


def test_a_duplicate_arriving_while_the_first_delivery_is_queued_waits_for_it():
    client = fakeredis.FakeRedis()
    dedupe = IntakeDedupe(client, ttl_seconds=3600)
    assert dedupe.claim("taskrouter:EV2").value == "new"  # the first delivery, mid-enqueue
    threading.Timer(0.1, dedupe.mark_queued, args=("taskrouter:EV2",)).start()
    started = time.monotonic()
    assert dedupe.claim("taskrouter:EV2").value == "duplicate"
    assert time.monotonic() - started >= 0.05  # it waited for the first one's outcome


def test_a_duplicate_of_a_delivery_that_failed_and_released_is_queued():
    client = fakeredis.FakeRedis()
    dedupe = IntakeDedupe(client, ttl_seconds=3600)
    dedupe.claim("taskrouter:EV3")
    threading.Timer(0.1, dedupe.release, args=("taskrouter:EV3",)).start()
    assert dedupe.claim("taskrouter:EV3").value == "new"
