"""Event Streams in the sandbox: sinks and subscriptions through the official twilio library, and
subscribed events delivered to a webhook sink in signed batches, retried, shuffled and duplicated
as Event Streams allows, in shapes the service's own CloudEvent checks accept."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from sandbox import Sandbox
from worker.domain.cloudevents import domain_event, parse_batch
from worker.domain.events import ConversationEvent, TaskRouterEvent

from .conftest import Receiver, twilio_client

SERVICE_TYPES = [
    ("com.twilio.taskrouter.task.created", 4),
    ("com.twilio.taskrouter.reservation.accepted", 4),
    ("com.twilio.taskrouter.task.completed", 4),
    ("com.twilio.conversations.participant.added", 2),
]


@dataclass
class Sink(Receiver):
    """A webhook sink: a receiver that answers 2xx unless its `script` says otherwise."""

    status: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        self.url += "/sink"

    def cloudevents(self, *, accepted_only: bool = True) -> list[dict]:
        """Every CloudEvent of every request (of those answered 2xx, by default)."""
        with self._cond:
            return [
                e
                for post in self.received
                if not accepted_only or 200 <= post.status < 300
                for e in json.loads(post.body)
            ]


@pytest.fixture
def sink():
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def fast_sb():
    sandbox = Sandbox(seed=7, event_streams_backoff=(0.05, 0.2))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def subscribe(sb: Sandbox, destination: str, types=SERVICE_TYPES, batch: bool = True) -> tuple[str, str]:
    client = twilio_client(sb)
    created = client.events.v1.sinks.create(
        description="chat-transfer",
        sink_configuration={"destination": destination, "method": "POST", "batch_events": batch},
        sink_type="webhook",
    )
    sub = client.events.v1.subscriptions.create(
        description="chat-transfer",
        sink_sid=created.sid,
        types=[{"type": t, "schema_version": v} for t, v in types],
    )
    return created.sid, sub.sid


def play_chat(sb: Sandbox) -> tuple[str, str]:
    chat = sb.start_chat("ann")
    sb.accept_task(chat.task_sid)
    sb.wrapup(chat.task_sid)
    sb.complete(chat.task_sid)
    return chat.task_sid, chat.conversation_sid


def test_subscribed_events_come_in_signed_batches_the_service_accepts(sb, flex, sink):
    subscribe(sb, sink.url)
    task_sid, conversation_sid = play_chat(sb)
    assert sb.wait_idle()
    validator = RequestValidator(sb.auth_token)
    for post in sink.received:
        assert post.headers["Content-Type"] == "application/json"
        assert "bodySHA256=" in post.url
        assert validator.validate(post.url, post.body, post.headers["X-Twilio-Signature"])
        assert isinstance(json.loads(post.body), list)
    events = parse_batch(sink.cloudevents())
    assert Counter(e.type for e in events) == Counter(
        {
            "com.twilio.taskrouter.task.created": 1,
            "com.twilio.taskrouter.reservation.accepted": 1,
            "com.twilio.taskrouter.task.completed": 1,
            "com.twilio.conversations.participant.added": 2,  # the customer, then alice (Flex)
        }
    )
    assert len(sink.received) < len(events)  # batched
    mapped = [domain_event(e) for e in events]
    accepted = next(
        m for m in mapped if isinstance(m, TaskRouterEvent) and m.event_type == "reservation.accepted"
    )
    assert accepted.task_sid == task_sid and accepted.conversation_sid == conversation_sid
    assert (
        accepted.worker_sid == flex.workers["alice"]
        and accepted.worker_attributes["contact_uri"] == "client:alice"
    )
    callback = sb.events(types=["reservation.accepted"], task_sid=task_sid)[0]
    assert accepted.event_sid == callback["sid"]  # the EV sid both intakes carry
    joined = [m for m in mapped if isinstance(m, ConversationEvent)]
    assert [m.identity for m in joined] == ["ann", "alice"]
    assert all(m.conversation_sid == conversation_sid for m in joined)
    assert {e.schema_version for e in events if "taskrouter" in e.type} == {4}
    assert len({e.id for e in events}) == len(events)


def test_the_cloudevent_has_the_documented_shape(sb, flex, sink):
    subscribe(sb, sink.url, types=[("com.twilio.taskrouter.task.created", 1)])
    chat = sb.start_chat("bo")
    assert sb.wait_idle()
    [event] = sink.cloudevents()
    assert set(event) == {
        "specversion",
        "type",
        "source",
        "id",
        "dataschema",
        "datacontenttype",
        "time",
        "data",
    }
    assert event["dataschema"] == "https://events-schemas.twilio.com/TaskRouter.WDSEvent/1"
    data = event["data"]
    assert set(data) == {
        "sid", "name", "account_sid", "account_friendly_name", "parent_account_sid", "parent_friendly_name",
        "timestamp", "level", "group", "product_name", "publisher", "publisher_metadata", "payload_type",
        "payload",
    }  # fmt: skip
    assert (data["name"], data["group"], data["product_name"]) == ("TaskCreated", "task", "TaskRouter")
    payload = data["payload"]
    assert payload["eventtype"] == "task.created" and payload["sid"] == data["sid"]
    assert payload["task_sid"] == chat.task_sid and payload["workspace_sid"] == flex.workspace_sid
    assert isinstance(payload["task_priority"], int) and payload["task_channel_unique_name"] == "chat"
    assert event["source"] == f"/v1/Workspaces/{flex.workspace_sid}/Tasks/{chat.task_sid}"


def test_unsubscribed_types_and_other_sinks_types_are_not_sent(sb, flex, sink):
    client = twilio_client(sb)
    subscribe(sb, sink.url, types=[("com.twilio.taskrouter.task.canceled", 4)])
    kinesis = client.events.v1.sinks.create(
        description="k",
        sink_configuration={
            "arn": "arn:aws:kinesis:us-east-1:1:stream/x",
            "role_arn": "r",
            "external_id": "1",
        },
        sink_type="kinesis",
    )
    assert kinesis.status == "initialized"
    play_chat(sb)
    assert sb.wait_idle()
    assert sink.received == []
    chat = sb.start_chat("cy")
    sb.cancel_task(chat.task_sid, "customer left")
    assert sb.wait_idle()
    [event] = sink.cloudevents()
    assert event["data"]["payload"]["task_canceled_reason"] == "customer left"


def test_one_event_a_request_without_batch_events(sb, flex, sink):
    subscribe(sb, sink.url, batch=False)
    play_chat(sb)
    assert sb.wait_idle()
    assert len(sink.received) == 5 and all(len(json.loads(p.body)) == 1 for p in sink.received)


def test_credentials_in_the_sink_url_are_sent_as_basic_auth_and_left_out_of_the_signature(sb, flex, sink):
    with_credentials = sink.url.replace("http://", "http://sink:s3cret@")
    subscribe(sb, with_credentials)
    play_chat(sb)
    assert sb.wait_idle()
    expected = "Basic " + base64.b64encode(b"sink:s3cret").decode()
    validator = RequestValidator(sb.auth_token)
    for post in sink.received:
        assert post.headers["Authorization"] == expected
        assert "s3cret" not in post.url
        assert validator.validate(post.url, post.body, post.headers["X-Twilio-Signature"])


def test_a_failing_sink_gets_the_batch_again_until_it_takes_it(fast_sb, sink):
    sb = fast_sb
    sb.seed_flex(workers=[{"name": "alice"}])
    sink.script = [503, 503, 500, 503]
    subscribe(sb, sink.url)
    play_chat(sb)
    assert sb.wait_idle(timeout=30)
    deliveries = sb.sink_deliveries()
    assert all(d.delivered for d in deliveries)
    statuses = [a.status for d in deliveries for a in d.attempts]
    assert statuses.count(503) == 3 and statuses.count(500) == 1
    # at least once: every event was answered 2xx at last, some of them more than once
    delivered = Counter(e["id"] for d in deliveries for e in d.events)
    assert set(delivered) == {e["id"] for e in sb.event_streams.streamed}


def test_a_sink_that_never_answers_in_time_is_retried(sink):
    with Sandbox(seed=3, event_streams_backoff=(0.05, 0.1)) as sb:
        sb.sink_deliverer.timeout = 0.2
        sb.seed_flex(workers=[{"name": "alice"}])
        subscribe(sb, "http://10.255.255.1:9/sink", types=[("com.twilio.taskrouter.task.created", 4)])
        sb.start_chat("dee")
        with sb.core.lock:
            sb.event_streams.flush()
        sb.sink_deliverer.retry_window = 1.0
        assert sb.wait_idle(timeout=30)
        [delivery] = sb.sink_deliveries()
        assert not delivery.delivered and delivery.given_up and len(delivery.attempts) >= 3


def test_faults_shuffle_duplicate_drop_and_reorder_yet_every_event_arrives(fast_sb, sink):
    sb = fast_sb
    sb.seed_flex(workers=[{"name": "alice", "chat_capacity": 10}])
    subscribe(sb, sink.url)
    sb.faults.configure(
        seed=5,
        stream_shuffle=True,
        stream_duplicate_rate=0.3,
        webhook_drop_rate=0.3,
        webhook_duplicate_rate=0.2,
        webhook_reorder_rate=0.2,
        webhook_kinds=("event-streams",),
    )
    for _ in range(8):
        play_chat(sb)
        with sb.core.lock:
            sb.event_streams.flush()
    assert sb.wait_idle(timeout=30)
    counts = sb.faults.counts
    assert counts["stream_shuffled"] and counts["stream_duplicated"] and counts["webhook_dropped"]
    received = Counter(e["id"] for e in sink.cloudevents())
    assert set(received) == {e["id"] for e in sb.event_streams.streamed}  # none lost
    assert max(received.values()) > 1  # some twice


def test_subscriptions_follow_changes_to_their_types(sb, flex, sink):
    client = twilio_client(sb)
    _, sub_sid = subscribe(sb, sink.url, types=[("com.twilio.taskrouter.task.created", 4)])
    events = client.events.v1.subscriptions(sub_sid).subscribed_events
    events.create(type="com.twilio.taskrouter.task.completed", schema_version=3)
    events("com.twilio.taskrouter.task.created").delete()
    assert [(e.type, e.schema_version) for e in events.list()] == [
        ("com.twilio.taskrouter.task.completed", 3)
    ]
    play_chat(sb)
    assert sb.wait_idle()
    [event] = sink.cloudevents()
    assert event["type"] == "com.twilio.taskrouter.task.completed"
    assert event["dataschema"].endswith("/TaskRouter.WDSEvent/3")


def test_what_twilio_refuses_is_refused(sb, flex, sink):
    client = twilio_client(sb)
    sink_sid, _ = subscribe(sb, sink.url)
    for unknown_type, version in (("com.twilio.nothing.such", 1), ("com.twilio.taskrouter.task.created", 99)):
        with pytest.raises(TwilioRestException) as refused:
            client.events.v1.subscriptions.create(
                description="x", sink_sid=sink_sid, types=[{"type": unknown_type, "schema_version": version}]
            )
        assert refused.value.status == 400
    with pytest.raises(TwilioRestException) as in_use:
        client.events.v1.sinks(sink_sid).delete()
    assert in_use.value.status == 400
    sb.assert_faithful()
