"""The receiver's one-step intake on a real redis-server: the Celery message it pushes is the one
`send_task` would push, kombu reads it back, and the event is marked seen in the same script, so
concurrent deliveries of one event queue it exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from ops.embedded_redis import EmbeddedRedis, free_port
from webhooks.intake import EventIntake, Outcome
from worker.adapters.intake_dedupe import IntakeDedupe
from worker.adapters.task_queue import (
    CONVERSATIONS_EVENT,
    RUN_TRANSFER,
    TASKROUTER_EVENT,
    CeleryTaskQueue,
    summary,
)
from worker.domain.errors import ServiceUnavailable

EVENT = {"fields": {"EventType": "task.created", "Sid": "EV" + "1" * 32, "TaskSid": "WT" + "2" * 32}}


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as running:
        yield running


@pytest.fixture
def client(server: EmbeddedRedis) -> redis.Redis:
    connection = redis.Redis.from_url(server.url)
    connection.flushdb()
    return connection


def one_step_intake(client: redis.Redis, url: str) -> EventIntake:
    return EventIntake.for_broker(IntakeDedupe(client, 3600), CeleryTaskQueue(celery_for(url)), url)


def celery_for(broker_url: str, **transport_options: Any) -> Celery:
    app = Celery("one-step-test", broker=broker_url, set_as_current=False)
    app.conf.task_serializer = "json"
    app.conf.broker_transport_options = transport_options
    app.conf.task_routes = {
        "chat_transfer.events.*": {"queue": "events", "routing_key": "events"},
        "chat_transfer.transfers.*": {"queue": "transfers", "routing_key": "transfers"},
    }
    return app


def _normalised(raw: bytes, task_id: str) -> dict[str, Any]:
    message = json.loads(raw)
    properties = message["properties"]
    assert properties.pop("delivery_tag")  # kombu's per-message uuid
    assert message["headers"]["id"] == task_id
    return message


@pytest.mark.parametrize("task_name", [TASKROUTER_EVENT, CONVERSATIONS_EVENT, RUN_TRANSFER])
def test_the_pushed_message_is_the_one_send_task_pushes(client, server, monkeypatch, task_name):
    app = celery_for(server.url)
    queue = CeleryTaskQueue(app)
    task_id = "5f0c8e0e-0000-4000-8000-000000000001"
    payload = EVENT if task_name != RUN_TRANSFER else {"transferId": "TR1"}
    monkeypatch.setattr("worker.adapters.task_queue.uuid4", lambda: task_id)
    list_key, ours = queue.redis_message(task_name, payload)

    app.send_task(task_name, args=[payload], task_id=task_id, **summary(payload))
    [theirs] = client.lrange(list_key, 0, -1)
    assert list_key == ("transfers" if task_name == RUN_TRANSFER else "events")
    assert _normalised(ours.encode(), task_id) == _normalised(theirs, task_id)


def test_kombu_reads_the_message_back_as_the_task_with_its_arguments(client, server):
    app = celery_for(server.url)
    intake = one_step_intake(client, server.url)
    assert intake.one_step
    assert intake.accept(TASKROUTER_EVENT, "taskrouter:EV1", EVENT) is Outcome.QUEUED
    [raw] = client.lrange("events", 0, -1)
    with app.connection_for_read() as connection:
        message = connection.default_channel.message_to_python(json.loads(raw))
    args, kwargs, _embed = message.decode()
    assert message.headers["task"] == TASKROUTER_EVENT
    assert message.headers["argsrepr"] == f"[task.created {EVENT['fields']['Sid']}]"
    assert args == [EVENT]
    assert kwargs == {}


def test_a_redelivery_is_a_duplicate_and_queues_nothing(client, server):
    intake = one_step_intake(client, server.url)
    assert intake.accept(TASKROUTER_EVENT, "taskrouter:EV2", EVENT) is Outcome.QUEUED
    assert intake.accept(TASKROUTER_EVENT, "taskrouter:EV2", EVENT) is Outcome.DUPLICATE
    assert client.llen("events") == 1
    assert 0 < client.ttl("cft:seen:taskrouter:EV2") <= 3600


def test_concurrent_deliveries_of_one_event_queue_it_once(server):
    url = server.url
    redis.Redis.from_url(url).flushdb()
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(16)

    def deliver() -> None:
        intake = one_step_intake(redis.Redis.from_url(url), url)
        barrier.wait()
        outcomes.append(intake.accept(TASKROUTER_EVENT, "taskrouter:EV3", EVENT))

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([Outcome.QUEUED] + [Outcome.DUPLICATE] * 15)
    assert redis.Redis.from_url(url).llen("events") == 1


def test_a_claim_pending_on_the_other_path_is_503_and_queues_nothing(client, server):
    intake = one_step_intake(client, server.url)
    client.set("cft:seen:taskrouter:EV4", "claimed", ex=30)
    with pytest.raises(ServiceUnavailable):
        intake.accept(TASKROUTER_EVENT, "taskrouter:EV4", EVENT)
    assert client.llen("events") == 0


def test_redis_down_is_service_unavailable(server):
    url = f"redis://127.0.0.1:{free_port()}/0"
    dead = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    intake = one_step_intake(dead, url)
    with pytest.raises(ServiceUnavailable):
        intake.accept(TASKROUTER_EVENT, "taskrouter:EV5", EVENT)


@pytest.mark.parametrize(
    ("broker", "options", "one_step"),
    [
        ("same", {}, True),
        ("same", {"global_keyprefix": "tenant:"}, False),  # kombu would prefix the list's key
        ("redis://127.0.0.1:1/3", {}, False),  # another Redis: claim → Celery → mark
        ("amqp://guest@127.0.0.1//", {}, False),
    ],
)
def test_one_step_only_when_the_broker_is_the_state_redis(client, server, broker, options, one_step):
    broker_url = server.url if broker == "same" else broker
    queue = CeleryTaskQueue(celery_for(broker_url, **options))
    assert EventIntake.for_broker(IntakeDedupe(client, 3600), queue, server.url).one_step is one_step
