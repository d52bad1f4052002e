"""A transient failure whose retry cannot be published (the broker is down with Redis) gives the
message back instead of letting Celery drop it (found by the fault suite's Redis restart)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import redis
from celery.exceptions import Reject, Retry

from tests.support.settings import import_worker_tasks


@pytest.fixture
def tasks(monkeypatch):
    return import_worker_tasks(monkeypatch)


class FakeTask:
    name = "chat_transfer.events.taskrouter"

    def __init__(self, publish_fails: bool) -> None:
        self.request = SimpleNamespace(retries=0)
        self.publish_fails = publish_fails

    def retry(self, exc: BaseException, countdown: float, throw: bool = True) -> Retry:
        if self.publish_fails:  # what Celery's Task.retry does when apply_async raises
            raise Reject(OSError("Error 111 connecting. Connection refused."), requeue=False)
        return Retry(exc=exc, when=countdown)


def redis_down() -> None:
    raise redis.ConnectionError("Connection refused")


def test_a_retry_that_cannot_be_published_gives_the_message_back(tasks):
    with pytest.raises(Reject) as caught:
        tasks.run(FakeTask(publish_fails=True), {"fields": {}}, redis_down)
    assert caught.value.requeue is True


def test_a_published_retry_is_a_retry(tasks):
    with pytest.raises(Retry):
        tasks.run(FakeTask(publish_fails=False), {"fields": {}}, redis_down)


def test_store_contention_is_retried_like_any_transient_failure(tasks):
    """`atomic_update` giving up after its attempts is worth another try later, not a failed event."""
    from worker.adapters.redis_json import StoreContention

    def contended() -> None:
        raise StoreContention("cft:conv:CH1: too much contention")

    with pytest.raises(Retry):
        tasks.run(FakeTask(publish_fails=False), {"fields": {}}, contended)


class Counting(FakeTask):
    def __init__(self, retries: int) -> None:
        super().__init__(publish_fails=False)
        self.request = SimpleNamespace(retries=retries)


def test_an_unexpected_exception_is_retried_then_dead_lettered_never_acknowledged_silently(
    tasks, monkeypatch
):
    """Defect 3: an exception that is neither Twilio's nor Redis's used to fail the task, and
    Celery acknowledged it: the event was gone with no dead letter."""
    import fakeredis

    client = fakeredis.FakeRedis()
    monkeypatch.setattr(tasks, "process_deps", lambda: SimpleNamespace(redis=client))

    def bad_data() -> None:
        raise TypeError("'list' object is not a mapping")

    with pytest.raises(Retry):
        tasks.run(Counting(retries=0), {"fields": {"Sid": "EV1"}}, bad_data)
    last = tasks.SETTINGS.outbox_max_attempts - 1
    with pytest.raises(TypeError):
        tasks.run(Counting(retries=last), {"fields": {"Sid": "EV1"}}, bad_data)
    (letter,) = [json.loads(raw) for raw in client.lrange("cft:dead-letters", 0, -1)]
    assert letter["payload"] == {"fields": {"Sid": "EV1"}} and "TypeError" in letter["error"]
    counts = {k.decode(): int(v) for k, v in client.hgetall("cft:metrics:unexpected-errors").items()}
    assert counts == {"chat_transfer.events.taskrouter|TypeError": 2}
