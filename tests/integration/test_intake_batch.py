"""A sink batch through the one-step intake on a real redis-server: one script, one round trip,
every new event pushed as the Celery message `send_task` would push and marked seen, all or none."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
import redis

from tests.integration import test_intake_one_step as one_step
from tests.integration.test_intake_one_step import celery_for, one_step_intake
from tests.support.cloudevents import taskrouter_event
from tests.support.settings import sid
from webhooks.intake import Outcome
from worker.adapters.task_queue import CLOUDEVENT
from worker.domain.cloudevents import parse_event
from worker.domain.errors import ServiceUnavailable

# the redis-server (per module) and a flushed client of test_intake_one_step
server = one_step.server
client = one_step.client


def items(first: int, count: int) -> list[tuple[str, str, dict]]:
    out = []
    for n in range(first, first + count):
        raw = taskrouter_event("task.created", n=n)
        out.append((CLOUDEVENT, parse_event(raw).dedupe_key, {"cloudevent": raw, "received_at": 0.0}))
    return out


def test_a_batch_of_fifty_is_one_round_trip(client, server, monkeypatch):
    intake = one_step_intake(client, server.url)
    assert intake.one_step
    intake.accept_batch(items(1000, 1))  # the script is loaded once per server
    batch = items(1, 50)
    client.config_resetstat()
    sent: list[object] = []  # what goes out on a connection, one element per round trip
    send = redis.connection.Connection.send_packed_command

    def counted(
        connection: redis.connection.Connection, command: object, *args: object, **kw: object
    ) -> None:
        sent.append(command)
        send(connection, command, *args, **kw)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    outcomes = intake.accept_batch(batch)
    monkeypatch.undo()
    stats = client.info("commandstats")
    assert outcomes == [Outcome.QUEUED] * 50
    assert len(sent) == 1
    assert stats["cmdstat_evalsha"]["calls"] == 1
    # inside the script: one GET per event to check, one more, then SET and LPUSH
    assert stats["cmdstat_lpush"]["calls"] == 50 and stats["cmdstat_set"]["calls"] == 50
    assert client.llen("events") == 51
    assert all(client.ttl(f"cft:seen:taskrouter:{sid('EV', n)}") > 0 for n in range(1, 51))


def test_kombu_reads_each_event_back_as_a_cloudevent_task(client, server):
    intake = one_step_intake(client, server.url)
    batch = items(1, 3)
    intake.accept_batch(batch)
    app = celery_for(server.url)
    seen = []
    for raw in client.lrange("events", 0, -1):
        with app.connection_for_read() as connection:
            message = connection.default_channel.message_to_python(json.loads(raw))
        args, _kwargs, _embed = message.decode()
        assert message.headers["task"] == CLOUDEVENT
        assert message.headers["argsrepr"].startswith("[com.twilio.taskrouter.task.created EZ")
        seen.append(args[0]["cloudevent"]["id"])
    assert sorted(seen) == sorted(payload["cloudevent"]["id"] for _, _, payload in batch)


def test_redelivered_and_repeated_events_are_duplicates(client, server):
    intake = one_step_intake(client, server.url)
    assert intake.accept_batch(items(1, 3)) == [Outcome.QUEUED] * 3
    overlapping = items(2, 3) + items(4, 1)
    assert intake.accept_batch(overlapping) == [
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
        Outcome.QUEUED,
        Outcome.DUPLICATE,
    ]
    assert client.llen("events") == 4


def test_a_claim_pending_on_the_other_path_refuses_the_whole_batch(client, server):
    intake = one_step_intake(client, server.url)
    batch = items(1, 5)
    client.set(f"cft:seen:{batch[3][1]}", "claimed", ex=30)
    with pytest.raises(ServiceUnavailable):
        intake.accept_batch(batch)
    assert client.llen("events") == 0
    assert client.get(f"cft:seen:{batch[0][1]}") is None


def test_overlapping_batches_at_once_queue_each_event_once(server):
    url = server.url
    redis.Redis.from_url(url).flushdb()
    barrier = threading.Barrier(8)
    pushed: Counter[str] = Counter()
    lock = threading.Lock()

    def deliver(k: int) -> None:
        intake = one_step_intake(redis.Redis.from_url(url), url)
        batch = items(1 + k * 5, 20)  # each batch shares 15 events with the next
        barrier.wait()
        for (_, key, _), outcome in zip(batch, intake.accept_batch(batch), strict=True):
            if outcome is Outcome.QUEUED:
                with lock:
                    pushed[key] += 1

    threads = [threading.Thread(target=deliver, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(pushed.values()) == {1}
    assert len(pushed) == 5 * 7 + 20
    assert redis.Redis.from_url(url).llen("events") == len(pushed)
