"""The intake spine end to end: a real redis-server, a real celery worker process, the receiver
under gunicorn over real HTTP, requests signed as Twilio signs them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import asdict

import pytest
import redis
import requests

from ops.embedded_redis import EmbeddedRedis
from ops.localstack import intake_env
from tests.support.processes import ServiceProcess, start_web, start_worker, wait_for
from tests.support.settings import ACCOUNT_SID, AUTH_TOKEN, WORKFLOW_SID, WORKSPACE_SID, sid
from tests.support.signing import twilio_signature
from worker.domain.model import ConversationState

pytestmark = pytest.mark.e2e


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    return intake_env(redis_url, ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, WORKFLOW_SID, **extra)


@pytest.fixture
def stack() -> Iterator[tuple[EmbeddedRedis, ServiceProcess, str, redis.Redis]]:
    with EmbeddedRedis() as server:
        env = service_env(server.url)
        worker = start_worker(env, concurrency=2)
        web, base = start_web(env)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            yield server, worker, base, client
        finally:
            web.stop()
            worker.stop()


def post_signed(base: str, path: str, fields: dict[str, str], headers: dict[str, str] | None = None):
    signature = twilio_signature(f"{base}{path}", fields, AUTH_TOKEN)
    return requests.post(
        f"{base}{path}", data=fields, headers={"X-Twilio-Signature": signature, **(headers or {})}, timeout=10
    )


def task_created(n: int, conversation: str) -> dict[str, str]:
    return {
        "EventType": "task.created",
        "Sid": sid("EV", n),
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "ResourceType": "task",
        "ResourceSid": sid("WT", n),
        "TaskSid": sid("WT", n),
        "TaskAttributes": json.dumps({"conversationSid": conversation, "channelType": "web"}),
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "chat",
        "Timestamp": "1764095000",
    }


def tracked(client: redis.Redis, conversation: str) -> dict:
    raw = client.get(f"cft:conv:{conversation}")
    return asdict(ConversationState.from_dict(json.loads(raw))) if raw else {}


def test_signed_events_reach_the_worker_and_change_tracked_state(stack):
    _server, _worker, base, client = stack
    conversation = sid("CH", 1)
    assert post_signed(base, "/webhooks/taskrouter", task_created(1, conversation)).status_code == 204
    state = wait_for(lambda: tracked(client, conversation), what="task tracked by the worker")
    assert state["tasks"][sid("WT", 1)]["status"] == "inflight"

    closed = {
        "EventType": "onConversationStateUpdated",
        "AccountSid": ACCOUNT_SID,
        "ConversationSid": conversation,
        "StateFrom": "active",
        "StateTo": "closed",
        "Source": "SDK",
    }
    response = post_signed(base, "/webhooks/conversations", closed, {"I-Twilio-Idempotency-Token": "idem-1"})
    assert response.status_code == 204
    wait_for(lambda: tracked(client, conversation).get("customer_left"), what="customer-left applied")


def test_the_same_event_three_times_is_processed_once(stack):
    _server, _worker, base, client = stack
    event = task_created(2, sid("CH", 2))
    event["EventType"] = "task.updated"  # counted, otherwise a no-op for us
    for _ in range(3):
        assert post_signed(base, "/webhooks/taskrouter", event).status_code == 204
    sentinel = {**task_created(3, sid("CH", 3)), "EventType": "worker.activity.update"}
    assert post_signed(base, "/webhooks/taskrouter", sentinel).status_code == 204
    wait_for(lambda: client.hget("cft:stats:events", "task.updated") == "1", what="the event handled")
    # Every delivery was queued before the sentinel; once it is handled and nothing is left on the
    # broker or in a worker's hands (kombu's `unacked` hash), a duplicate would have been counted.
    wait_for(
        lambda: (
            client.hget("cft:stats:events", "worker.activity.update") == "1"
            and client.llen("events") == 0
            and client.hlen("unacked") == 0
        ),
        what="sentinel handled and the broker drained",
    )
    assert client.hget("cft:stats:events", "task.updated") == "1"


def test_unsigned_event_is_refused_and_nothing_reaches_the_worker(stack):
    _server, _worker, base, client = stack
    conversation = sid("CH", 4)
    response = requests.post(f"{base}/webhooks/taskrouter", data=task_created(4, conversation), timeout=10)
    assert response.status_code == 403
    sentinel = {**task_created(5, sid("CH", 5)), "EventType": "worker.activity.update"}
    assert post_signed(base, "/webhooks/taskrouter", sentinel).status_code == 204
    wait_for(
        lambda: client.hget("cft:stats:events", "worker.activity.update") == "1", what="sentinel handled"
    )
    assert tracked(client, conversation) == {}


def test_redis_stopped_means_503_then_recovery_without_restarts(stack):
    server, _worker, base, client = stack
    server.stop()
    response = post_signed(base, "/webhooks/taskrouter", task_created(6, sid("CH", 6)))
    assert response.status_code == 503
    assert "retry" in response.json()["error"]
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 503

    server.start()
    conversation = sid("CH", 7)
    wait_for(
        lambda: post_signed(base, "/webhooks/taskrouter", task_created(7, conversation)).status_code == 204,
        what="receiver recovers",
    )
    wait_for(lambda: tracked(client, conversation), what="worker recovers and handles the event")
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200


def _rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.rabbitmq
@pytest.mark.skipif(not _rabbitmq_reachable(), reason="no RabbitMQ server on 127.0.0.1:5672")
def test_rabbitmq_broker_works_too():
    with EmbeddedRedis() as server:
        vhost = "/"
        env = service_env(server.url, CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
        worker = start_worker(env, concurrency=1, name="amqp-worker")
        web, base = start_web(env)
        try:
            client = redis.Redis.from_url(server.url, decode_responses=True)
            conversation = sid("CH", 8)
            assert post_signed(base, "/webhooks/taskrouter", task_created(8, conversation)).status_code == 204
            wait_for(lambda: tracked(client, conversation), what="event carried by RabbitMQ")
        finally:
            web.stop()
            worker.stop()
