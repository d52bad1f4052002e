"""The Event Streams sink in-process: the signature as Event Streams computes it, basic auth, the
size cap, a batch accepted whole or not at all, duplicates across redeliveries and across the two
intakes, and 503 when it cannot all be queued."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import fakeredis
import pytest

from tests.support.cloudevents import conversations_event, taskrouter_event
from tests.support.settings import AUTH_TOKEN, make_settings, sid
from tests.support.signing import event_streams_signature, twilio_signature
from tests.unit.test_receiver import BASE, RecordingQueue, task_event
from webhooks import create_app
from worker.adapters.task_queue import CLOUDEVENT, TASKROUTER_EVENT
from worker.domain.errors import ServiceUnavailable

PATH = "/webhooks/event-streams"


class FlakyQueue(RecordingQueue):
    """Takes `room` messages, then refuses (a broker going away mid-batch)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None:
        if len(self.sent) >= self.room:
            raise ServiceUnavailable("broker unreachable: test")
        super().enqueue(task_name, payload)


def make_client(queue: RecordingQueue, redis_client=None, **settings: Any):
    app = create_app(
        make_settings(public_base_url=BASE, **settings),
        redis_client=redis_client or fakeredis.FakeRedis(),
        task_queue=queue,
    )
    return app.test_client()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def client(queue):
    return make_client(queue)


def post_batch(client, events: Any, *, token: str = AUTH_TOKEN, sink_url: str = BASE + PATH, **kw: Any):
    """POST `events` as Event Streams does: JSON body, signed URL with bodySHA256."""
    body = kw.pop("body", None) or json.dumps(events)
    url, signature = event_streams_signature(sink_url, kw.pop("signed_body", body), token)
    parts = urlsplit(url)
    headers = {"X-Twilio-Signature": signature, **kw.pop("headers", {})}
    if kw.pop("unsigned", False):
        headers.pop("X-Twilio-Signature")
    return client.post(
        f"{PATH}?{parts.query}", data=body, headers=headers, content_type="application/json", **kw
    )


def batch() -> list[dict[str, Any]]:
    return [
        taskrouter_event("task.created", n=1),
        taskrouter_event("worker.activity.update", n=2),  # not handled: acknowledged, ignored
        conversations_event("participant.added", n=3),
    ]


def test_a_signed_batch_queues_each_handled_event_once(client, queue):
    response = post_batch(client, batch())
    assert response.status_code == 200, response.json
    assert response.json == {"queued": 2, "duplicates": 0, "ignored": 1}
    assert [name for name, _ in queue.sent] == [CLOUDEVENT, CLOUDEVENT]
    assert [p["cloudevent"]["type"] for _, p in queue.sent] == [
        "com.twilio.taskrouter.task.created",
        "com.twilio.conversations.participant.added",
    ]


def test_a_redelivered_batch_is_answered_2xx_and_queues_nothing(client, queue):
    assert post_batch(client, batch()).status_code == 200
    again = post_batch(client, list(reversed(batch())))
    assert again.status_code == 200
    assert again.json == {"queued": 0, "duplicates": 2, "ignored": 1}
    assert len(queue.sent) == 2


def test_an_event_twice_in_one_batch_is_queued_once(client, queue):
    event = taskrouter_event("task.created", n=5)
    assert post_batch(client, [event, event]).json == {"queued": 1, "duplicates": 1, "ignored": 0}


# ---- the signature ------------------------------------------------------------------------------


def test_a_missing_signature_is_403_and_queues_nothing(client, queue):
    response = post_batch(client, batch(), unsigned=True)
    assert response.status_code == 403 and queue.sent == []


def test_an_altered_body_is_403(client, queue):
    signed = json.dumps(batch())
    altered = signed.replace("task.created", "task.canceled")
    response = post_batch(client, None, body=altered, signed_body=signed)
    assert response.status_code == 403 and queue.sent == []


def test_a_body_swapped_with_its_hash_is_403(client, queue):
    """bodySHA256 made to match a forged body: the URL then differs from the one signed."""
    signed = json.dumps(batch())
    url, signature = event_streams_signature(BASE + PATH, signed, AUTH_TOKEN)
    forged = signed.replace("task.created", "task.canceled")
    forged_url, _ = event_streams_signature(BASE + PATH, forged, AUTH_TOKEN)
    response = client.post(
        f"{PATH}?{urlsplit(forged_url).query}",
        data=forged,
        headers={"X-Twilio-Signature": signature},
        content_type="application/json",
    )
    assert url != forged_url and response.status_code == 403 and queue.sent == []


def test_a_signature_for_another_url_is_403(client, queue):
    response = post_batch(client, batch(), sink_url="https://elsewhere.example.com" + PATH)
    assert response.status_code == 403 and queue.sent == []


def test_a_signature_with_another_token_is_403(client, queue):
    assert post_batch(client, batch(), token="not-the-auth-token").status_code == 403


def test_a_form_post_is_not_a_sink_request(client, queue):
    fields = task_event()
    signature = twilio_signature(BASE + PATH, fields, AUTH_TOKEN)
    response = client.post(PATH, data=fields, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403 and queue.sent == []


# ---- basic auth ---------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_sink_with_credentials_needs_them_and_the_signature_too(queue):
    client = make_client(queue, event_streams_basic_auth="sink:s3cret")
    assert post_batch(client, batch(), headers=basic("sink", "s3cret")).status_code == 200
    missing = post_batch(client, batch())
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Basic")
    assert post_batch(client, batch(), headers=basic("sink", "wrong")).status_code == 401
    assert post_batch(client, batch(), headers={"Authorization": "Basic !!"}).status_code == 401
    unsigned = post_batch(client, batch(), headers=basic("sink", "s3cret"), unsigned=True)
    assert unsigned.status_code == 403
    assert len(queue.sent) == 2


# ---- the batch ----------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_400_naming_it(queue):
    client = make_client(queue, event_streams_max_body_bytes=2000)
    response = post_batch(client, [taskrouter_event("task.created", n=i) for i in range(5)])
    assert response.status_code == 400 and response.json["field"] == "body" and queue.sent == []


def test_a_batch_with_one_malformed_event_is_refused_whole(client, queue):
    bad = taskrouter_event("task.completed", n=7)
    del bad["data"]["payload"]["task_sid"]
    response = post_batch(client, [taskrouter_event("task.created", n=6), bad])
    assert response.status_code == 400
    assert response.json["field"] == "[1].data.payload.task_sid"
    assert queue.sent == []


def test_a_body_that_is_not_json_is_400(client, queue):
    response = post_batch(client, None, body="[{not json")
    assert response.status_code == 400 and response.json["field"] == "body"


def test_a_batch_of_types_the_service_does_not_handle_is_acknowledged(client, queue):
    events = [taskrouter_event("worker.created", n=i) for i in range(3)]
    assert post_batch(client, events).json == {"queued": 0, "duplicates": 0, "ignored": 3}
    assert queue.sent == []


# ---- 503 and Event Streams' retry ---------------------------------------------------------------


def test_a_batch_that_cannot_all_be_queued_is_503_and_its_retry_queues_the_rest_once():
    queue = FlakyQueue(room=2)
    client = make_client(queue)
    events = [taskrouter_event("task.created", n=i) for i in range(1, 5)]
    assert post_batch(client, events).status_code == 503
    assert len(queue.sent) == 2
    queue.room = 100  # the broker is back; Event Streams retries the batch
    retry = post_batch(client, events)
    assert retry.status_code == 200 and retry.json == {"queued": 2, "duplicates": 2, "ignored": 0}
    keys = [p["cloudevent"]["data"]["sid"] for _, p in queue.sent]
    assert sorted(keys) == sorted(sid("EV", i) for i in range(1, 5))


def test_redis_down_is_503(queue):
    server = fakeredis.FakeServer()
    server.connected = False  # fakeredis raises ConnectionError on every command
    client = make_client(queue, redis_client=fakeredis.FakeRedis(server=server))
    assert post_batch(client, batch()).status_code == 503 and queue.sent == []


# ---- one event, two intakes ---------------------------------------------------------------------


def test_an_event_delivered_by_the_callback_and_the_sink_is_queued_once(client, queue):
    event = taskrouter_event("task.created", n=11)
    fields = task_event(Sid=sid("EV", 11))
    signature = twilio_signature(BASE + "/webhooks/taskrouter", fields, AUTH_TOKEN)
    callback = client.post("/webhooks/taskrouter", data=fields, headers={"X-Twilio-Signature": signature})
    assert callback.status_code == 204
    assert post_batch(client, [event]).json == {"queued": 0, "duplicates": 1, "ignored": 0}
    later = taskrouter_event("task.completed", n=12)
    assert post_batch(client, [later]).json["queued"] == 1
    fields = task_event(Sid=sid("EV", 12), EventType="task.completed")
    signature = twilio_signature(BASE + "/webhooks/taskrouter", fields, AUTH_TOKEN)
    assert (
        client.post(
            "/webhooks/taskrouter", data=fields, headers={"X-Twilio-Signature": signature}
        ).status_code
        == 204
    )
    assert [name for name, _ in queue.sent] == [TASKROUTER_EVENT, CLOUDEVENT]


def test_answers_validate_against_the_receivers_description(queue):
    from tests.unit.test_openapi import check_against_description

    client = make_client(queue, event_streams_basic_auth="sink:s3cret", event_streams_max_body_bytes=20_000)
    auth = basic("sink", "s3cret")
    bad = taskrouter_event("task.created", n=3, task_sid="WT1")
    answers = [
        post_batch(client, batch(), headers=auth),
        post_batch(client, batch(), headers=auth),
        post_batch(client, [bad], headers=auth),
        post_batch(client, [taskrouter_event("task.created", n=i) for i in range(20)], headers=auth),
        post_batch(client, batch()),
        post_batch(client, batch(), headers=auth, unsigned=True),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 400, 401, 403]
    for answer in answers:
        check_against_description(PATH, "post", answer)
    queue.down = True
    down = post_batch(client, [taskrouter_event("task.created", n=99)], headers=auth)
    assert down.status_code == 503
    check_against_description(PATH, "post", down)


DEEP = "[" * 5000 + "]" * 5000  # json.loads raises RecursionError, not ValueError


def test_json_nested_too_deep_is_400_not_500(client, queue):
    assert post_batch(client, None, body=DEEP).json["field"] == "body"
    event = taskrouter_event("task.created", n=40, task_attributes=DEEP)
    response = post_batch(client, [event])
    assert response.status_code == 400 and response.json["field"] == "[0].data.payload.task_attributes"
    fields = task_event(TaskAttributes=DEEP)
    signature = twilio_signature(BASE + "/webhooks/taskrouter", fields, AUTH_TOKEN)
    callback = client.post("/webhooks/taskrouter", data=fields, headers={"X-Twilio-Signature": signature})
    assert callback.status_code == 400 and callback.json["field"] == "TaskAttributes"
    assert queue.sent == []
