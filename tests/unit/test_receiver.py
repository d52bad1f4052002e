"""The receiver in-process: signatures, validation, dedupe, and 503 when it cannot queue."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest
from werkzeug.datastructures import MultiDict

from tests.support.settings import AUTH_TOKEN, make_settings, sid
from tests.support.signing import twilio_signature
from webhooks import create_app
from worker.adapters.task_queue import CONVERSATIONS_EVENT, TASKROUTER_EVENT
from worker.domain.errors import ServiceUnavailable

BASE = "https://receiver.example.com"


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None:
        if self.down:
            raise ServiceUnavailable("broker unreachable: test")
        self.sent.append((task_name, payload))

    def ping(self) -> None:
        if self.down:
            raise ServiceUnavailable("broker unreachable: test")


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def redis_client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def client(queue: RecordingQueue, redis_client: fakeredis.FakeRedis):
    app = create_app(make_settings(public_base_url=BASE), redis_client=redis_client, task_queue=queue)
    return app.test_client()


def task_event(**overrides: str) -> dict[str, str]:
    fields = {
        "EventType": "task.created",
        "Sid": sid("EV", 1),
        "AccountSid": "AC" + "a" * 32,
        "WorkspaceSid": sid("WS", 2),
        "ResourceType": "task",
        "ResourceSid": sid("WT", 3),
        "TaskSid": sid("WT", 3),
        "TaskAttributes": json.dumps({"conversationSid": sid("CH", 4)}),
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "chat",
        "Timestamp": "1764095000",
    }
    fields.update(overrides)
    return fields


def post_signed(client, path: str, fields, *, token: str = AUTH_TOKEN, url: str | None = None, headers=None):
    signature = twilio_signature(url or f"{BASE}{path}", fields, token)
    return client.post(path, data=fields, headers={"X-Twilio-Signature": signature, **(headers or {})})


def test_signed_taskrouter_event_is_queued_with_its_fields(client, queue):
    response = post_signed(client, "/webhooks/taskrouter", task_event())
    assert response.status_code == 204
    [(name, payload)] = queue.sent
    assert name == TASKROUTER_EVENT
    assert payload["fields"]["TaskSid"] == sid("WT", 3)
    assert json.loads(payload["fields"]["TaskAttributes"]) == {"conversationSid": sid("CH", 4)}


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong_token", "another_url", "tampered", "query_added"],
)
def test_bad_signature_is_403_and_nothing_queued(client, queue, case):
    fields = task_event()
    if case == "missing":
        response = client.post("/webhooks/taskrouter", data=fields)
    elif case == "wrong_token":
        response = post_signed(client, "/webhooks/taskrouter", fields, token="not-the-token")
    elif case == "another_url":
        response = post_signed(client, "/webhooks/taskrouter", fields, url=f"{BASE}/webhooks/conversations")
    elif case == "tampered":
        signature = twilio_signature(f"{BASE}/webhooks/taskrouter", fields, AUTH_TOKEN)
        tampered = {**fields, "TaskAssignmentStatus": "canceled"}
        response = client.post(
            "/webhooks/taskrouter", data=tampered, headers={"X-Twilio-Signature": signature}
        )
    else:
        signature = twilio_signature(f"{BASE}/webhooks/taskrouter", fields, AUTH_TOKEN)
        response = client.post(
            "/webhooks/taskrouter?x=1", data=fields, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 403
    assert "signature" in response.get_json()["error"].lower()
    assert queue.sent == []


def test_repeated_parameter_names_are_signed_over_every_value(client, queue):
    fields = MultiDict([*list(task_event().items()), ("Extra", "b"), ("Extra", "a")])
    assert post_signed(client, "/webhooks/taskrouter", fields).status_code == 204
    dropped_one = MultiDict([(k, v) for k, v in fields.items(multi=True) if (k, v) != ("Extra", "a")])
    signature = twilio_signature(f"{BASE}/webhooks/taskrouter", fields, AUTH_TOKEN)
    response = client.post(
        "/webhooks/taskrouter", data=dropped_one, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert len(queue.sent) == 1


def test_signature_checked_against_request_url_without_public_base_url(queue, redis_client):
    app = create_app(make_settings(), redis_client=redis_client, task_queue=queue)
    client = app.test_client()
    fields = task_event()
    good = post_signed(client, "/webhooks/taskrouter", fields, url="http://localhost/webhooks/taskrouter")
    assert good.status_code == 204
    bad = post_signed(client, "/webhooks/taskrouter", task_event(Sid=sid("EV", 9)))  # signed for BASE
    assert bad.status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"EventType": ""}, "EventType"),
        ({"TaskSid": "WK" + "0" * 32}, "TaskSid"),
        ({"TaskSid": "WT123"}, "TaskSid"),
        ({"Sid": "not-a-sid"}, "Sid"),
        ({"WorkerSid": "WT" + "1" * 32}, "WorkerSid"),
        ({"TaskAttributes": "{not json"}, "TaskAttributes"),
        ({"TaskAttributes": "[1, 2]"}, "TaskAttributes"),
        ({"WorkerAttributes": '"text"'}, "WorkerAttributes"),
    ],
)
def test_malformed_taskrouter_event_is_400_naming_the_field(client, queue, overrides, field):
    fields = task_event(**overrides)
    if overrides.get("EventType") == "":
        del fields["EventType"]
    response = post_signed(client, "/webhooks/taskrouter", fields)
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert queue.sent == []


def test_body_over_the_cap_is_400(client, queue):
    fields = task_event(TaskAttributes=json.dumps({"big": "x" * 70_000}))
    response = post_signed(client, "/webhooks/taskrouter", fields)
    assert response.status_code == 400
    assert response.get_json()["field"] == "body"
    assert queue.sent == []


def conversation_event(**overrides: str) -> dict[str, str]:
    fields = {
        "EventType": "onParticipantAdded",
        "AccountSid": "AC" + "a" * 32,
        "ConversationSid": sid("CH", 4),
        "ParticipantSid": sid("MB", 5),
        "Identity": "alice",
        "Source": "API",
    }
    fields.update(overrides)
    return fields


def test_conversations_event_queued_once_per_idempotency_token(client, queue):
    headers = {"I-Twilio-Idempotency-Token": "token-1"}
    for _ in range(3):
        response = post_signed(client, "/webhooks/conversations", conversation_event(), headers=headers)
        assert response.status_code == 204
    assert [name for name, _ in queue.sent] == [CONVERSATIONS_EVENT]


def test_conversations_event_without_token_dedupes_on_the_signed_body(client, queue):
    for _ in range(2):
        assert post_signed(client, "/webhooks/conversations", conversation_event()).status_code == 204
    assert (
        post_signed(client, "/webhooks/conversations", conversation_event(Identity="bob")).status_code == 204
    )
    assert len(queue.sent) == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"ConversationSid": "CH1"}, "ConversationSid"), ({"Attributes": "[]"}, "Attributes")],
)
def test_malformed_conversations_event_is_400(client, queue, overrides, field):
    response = post_signed(client, "/webhooks/conversations", conversation_event(**overrides))
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_same_taskrouter_event_three_times_is_queued_once(client, queue):
    for _ in range(3):
        assert post_signed(client, "/webhooks/taskrouter", task_event()).status_code == 204
    assert len(queue.sent) == 1


def test_broker_down_is_503_and_a_later_redelivery_is_queued(client, queue):
    queue.down = True
    assert post_signed(client, "/webhooks/taskrouter", task_event()).status_code == 503
    assert queue.sent == []
    queue.down = False
    assert post_signed(client, "/webhooks/taskrouter", task_event()).status_code == 204
    assert len(queue.sent) == 1


def test_redis_down_is_503_and_nothing_queued(queue):
    server = fakeredis.FakeServer()
    server.connected = False  # fakeredis raises ConnectionError on every command
    broken = fakeredis.FakeRedis(server=server)
    app = create_app(make_settings(public_base_url=BASE), redis_client=broken, task_queue=queue)
    response = post_signed(app.test_client(), "/webhooks/taskrouter", task_event())
    assert response.status_code == 503
    assert queue.sent == []
    assert app.test_client().get("/readyz").status_code == 503


def test_health_ready_and_metrics(client, queue):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    post_signed(client, "/webhooks/taskrouter", task_event())
    client.post("/webhooks/taskrouter", data=task_event())
    text = client.get("/metrics").get_data(as_text=True)
    assert "chat_transfer_http_requests_total" in text
    assert 'chat_transfer_rejections_total{endpoint="taskrouter",reason="signature"}' in text
    assert "chat_transfer_enqueue_seconds_bucket" in text


def test_unknown_route_is_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "error" in response.get_json()
