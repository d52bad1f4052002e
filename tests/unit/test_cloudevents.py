"""Event Streams' CloudEvents: the batch checks (400 naming the field) and the mapping of every
handled type to the domain event the callback intake makes for the same event."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.cloudevents import (
    CONVERSATION_SID,
    EVENT_SID,
    PARTICIPANT_ADDED_EXAMPLE,
    RESERVATION_SID,
    STATE_UPDATED_EXAMPLE,
    TASK_SID,
    WORKER_ATTRIBUTES,
    WORKER_SID,
    conversations_event,
    taskrouter_event,
)
from tests.support.settings import make_settings, sid
from worker.domain.cloudevents import HANDLED_TYPES, domain_event, parse_batch, parse_event
from worker.domain.errors import InvalidInput
from worker.domain.events import ConversationEvent, TaskRouterEvent
from worker.domain.model import CLOSED, CloseReason, ConversationState
from worker.handlers.tracking import _task_change

TASKROUTER_TYPES = sorted(h.event_type for h in HANDLED_TYPES.values() if h.taskrouter)
CONVERSATIONS_TYPES = {
    "participant.added": "onParticipantAdded",
    "participant.removed": "onParticipantRemoved",
    "conversation-state.updated": "onConversationStateUpdated",
    "conversation.removed": "onConversationRemoved",
    "conversation.updated": "onConversationUpdated",
}

# callback form field ↔ its place in a TaskRouter CloudEvent, where the names differ (README table)
CALLBACK_TO_CLOUDEVENT = {
    "EventType": "type (com.twilio.taskrouter.<EventType>); data.payload.eventtype",
    "Sid": "data.payload.sid (and data.sid)",
    "TaskSid": "data.payload.task_sid",
    "TaskAttributes": "data.payload.task_attributes",
    "TaskAssignmentStatus": "data.payload.task_assignment_status",
    "TaskCanceledReason": "data.payload.task_canceled_reason",
    "WorkerSid": "data.payload.worker_sid",
    "WorkerName": "data.payload.worker_name",
    "WorkerAttributes": "data.payload.worker_attributes",
    "ReservationSid": "data.payload.reservation_sid",
    "Timestamp": "data.payload.timestamp (ISO 8601, not epoch seconds)",
}


def callback_form(event: dict[str, Any]) -> dict[str, str]:
    """The event callback's form for the same event, by the table above."""
    payload = event["data"]["payload"]
    names = {
        "Sid": "sid",
        "TaskSid": "task_sid",
        "TaskAttributes": "task_attributes",
        "TaskAssignmentStatus": "task_assignment_status",
        "TaskCanceledReason": "task_canceled_reason",
        "WorkerSid": "worker_sid",
        "WorkerName": "worker_name",
        "WorkerAttributes": "worker_attributes",
        "ReservationSid": "reservation_sid",
        "Timestamp": "timestamp",
    }
    form = {"EventType": event["type"].removeprefix("com.twilio.taskrouter.")}
    form.update({field: str(payload[name]) for field, name in names.items() if name in payload})
    assert set(form) <= set(CALLBACK_TO_CLOUDEVENT)
    return form


# ---- mapping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TASKROUTER_TYPES)
def test_every_taskrouter_type_maps_to_the_event_the_callback_makes(kind):
    extra = {"task_canceled_reason": "Task TTL Exceeded"} if kind == "task.canceled" else {}
    event = taskrouter_event(kind, **extra)
    mapped = domain_event(parse_event(event))
    assert isinstance(mapped, TaskRouterEvent)
    assert mapped == TaskRouterEvent.from_form(callback_form(event))
    assert mapped.event_type == kind
    assert mapped.event_sid == sid("EV", 1)
    assert mapped.task_sid == TASK_SID
    assert mapped.conversation_sid == CONVERSATION_SID
    if kind.startswith("reservation."):
        assert (mapped.worker_sid, mapped.reservation_sid) == (WORKER_SID, RESERVATION_SID)
        assert mapped.worker_name == "alice" and mapped.worker_attributes == WORKER_ATTRIBUTES
    if kind == "task.canceled":
        assert mapped.canceled_reason == "Task TTL Exceeded"


@pytest.mark.parametrize(("kind", "callback_name"), sorted(CONVERSATIONS_TYPES.items()))
def test_every_conversations_type_maps_to_the_webhook_event(kind, callback_name):
    event = conversations_event(kind, StateTo="closed") if "state" in kind else conversations_event(kind)
    mapped = domain_event(parse_event(event))
    form = {"EventType": callback_name, **{k: v for k, v in event["data"].items() if isinstance(v, str)}}
    assert mapped == ConversationEvent.from_form(form)
    assert mapped.conversation_sid == CONVERSATION_SID
    if kind.startswith("participant."):
        assert mapped.identity == "alice"
    if "state" in kind:
        assert mapped.state_to == "closed"


def test_the_docs_examples_parse_as_published():
    added = domain_event(parse_event(PARTICIPANT_ADDED_EXAMPLE))
    assert added == ConversationEvent(
        "onParticipantAdded",
        "CHee95cfd541a925a3337fec19a0200009",
        identity="FX0000000000000000000000000000001",
        participant_sid="MB0119bde8f8b74237a4606d1447c9ebcf",
    )
    state = domain_event(parse_event(STATE_UPDATED_EXAMPLE))
    assert isinstance(state, ConversationEvent) and state.state_to == "inactive"


def test_every_handled_type_is_one_the_handlers_act_on():
    deps = SimpleNamespace(settings=make_settings(), clock=lambda: 0.0)
    for handled in HANDLED_TYPES.values():
        if not handled.taskrouter:
            continue
        event = domain_event(parse_event(taskrouter_event(handled.event_type)))
        assert _task_change(event, deps) is not None, handled.cloud_type


def test_a_task_deleted_by_the_system_closes_it_for_the_chat():
    deps = SimpleNamespace(settings=make_settings(), clock=lambda: 0.0)
    state = ConversationState(CONVERSATION_SID)
    state.track(TASK_SID)
    event = TaskRouterEvent.from_form(
        {"EventType": "task.system-deleted", "Sid": EVENT_SID, "TaskSid": TASK_SID}
    )
    change = _task_change(event, deps)
    assert change is not None and change(state)
    assert state.tasks[TASK_SID].status == CLOSED and state.tasks[TASK_SID].reason == CloseReason.DELETED


def test_an_unhandled_type_maps_to_nothing():
    event = parse_event({**taskrouter_event("worker.activity.update"), "data": "anything"})
    assert event.handled is None and domain_event(event) is None


def test_schema_versions_are_recorded_from_dataschema():
    assert parse_event(taskrouter_event("task.created")).schema_version == 4
    assert parse_event(PARTICIPANT_ADDED_EXAMPLE).schema_version == 2
    assert parse_event({**taskrouter_event("task.created"), "dataschema": None}).schema_version is None
    assert {h.schema_id: h.schema_version for h in HANDLED_TYPES.values()}["TaskRouter.WDSEvent"] == 4


# ---- dedupe keys --------------------------------------------------------------------------------


def test_a_taskrouter_event_is_keyed_by_its_event_sid_as_the_callback_keys_it():
    event = parse_event(taskrouter_event("task.created", n=9))
    assert event.dedupe_key == f"taskrouter:{sid('EV', 9)}"  # routes.py: f"{endpoint}:{Sid}"
    without = taskrouter_event("task.created", n=9, sid=None)
    without["data"].pop("sid")
    assert parse_event(without).dedupe_key == f"event-streams:{sid('EZ', 9)}"


def test_other_events_are_keyed_by_their_cloudevent_id():
    assert parse_event(PARTICIPANT_ADDED_EXAMPLE).dedupe_key == "event-streams:NO00000000000000000000000001"
    unknown = {**taskrouter_event("worker.created"), "id": "EZ1"}
    assert parse_event(unknown).dedupe_key == "event-streams:EZ1"


# ---- batch checks -------------------------------------------------------------------------------


PAYLOAD = "[1].data.payload"


def field_of(body: Any) -> str:
    with pytest.raises(InvalidInput) as error:
        parse_batch(body)
    return error.value.field


def test_a_batch_is_a_json_array_and_a_single_object_is_a_batch_of_one():
    assert len(parse_batch([taskrouter_event("task.created"), conversations_event("participant.added")])) == 2
    assert len(parse_batch(taskrouter_event("task.created"))) == 1
    assert parse_batch([]) == []
    assert field_of("text") == "body"
    assert field_of(42) == "body"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("id"), "[1].id"),
        (lambda e: e.update(id=""), "[1].id"),
        (lambda e: e.update(id=7), "[1].id"),
        (lambda e: e.pop("type"), "[1].type"),
        (lambda e: e.pop("source"), "[1].source"),
        (lambda e: e.update(specversion="0.3"), "[1].specversion"),
        (lambda e: e.update(dataschema=4), "[1].dataschema"),
        (lambda e: e.update(data=None), "[1].data"),
        (lambda e: e["data"].update(payload="{}"), "[1].data.payload"),
        (lambda e: e["data"]["payload"].pop("task_sid"), "[1].data.payload.task_sid"),
        (lambda e: e["data"]["payload"].update(task_sid="WT123"), "[1].data.payload.task_sid"),
        (lambda e: e["data"]["payload"].update(worker_sid="WR" + "0" * 32), "[1].data.payload.worker_sid"),
        (
            lambda e: e["data"]["payload"].update(task_attributes="{not json"),
            "[1].data.payload.task_attributes",
        ),
        (lambda e: e["data"]["payload"].update(task_attributes="[1]"), "[1].data.payload.task_attributes"),
        (lambda e: e["data"].update(sid="EV1"), "[1].data.sid"),
    ],
)
def test_a_malformed_taskrouter_event_is_named(change, field):
    bad = taskrouter_event("reservation.accepted", n=2)
    change(bad)
    assert field_of([taskrouter_event("task.created"), bad]) == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["data"].pop("ConversationSid"), "[0].data.ConversationSid"),
        (lambda e: e["data"].update(ConversationSid="IS" + "0" * 32), "[0].data.ConversationSid"),
        (lambda e: e["data"].update(ParticipantSid="MB1"), "[0].data.ParticipantSid"),
        (lambda e: e["data"].update(Attributes="nope"), "[0].data.Attributes"),
        (lambda e: e.update(data=[]), "[0].data"),
    ],
)
def test_a_malformed_conversations_event_is_named(change, field):
    bad = conversations_event("participant.removed")
    change(bad)
    assert field_of([bad]) == field


def test_an_unknown_type_needs_only_a_valid_envelope():
    test_event = {  # the sink test event, as Twilio's validation posts show it
        "specversion": "1.0",
        "type": "com.twilio.eventstreams.test-event",
        "source": "Sink",
        "id": "AC11111111111111111111111111111111",
        "dataschema": "https://events-schemas.twilio.com/EventStreams.TestSink/1.json",
        "datacontenttype": "application/json",
        "time": "2026-06-10T06:02:54.377Z",
        "data": {"test_id": "cae2f9e2-c277-4612-8ad3-93c1a7a3ef88"},
    }
    [parsed] = parse_batch([test_event])
    assert parsed.handled is None and parsed.schema_version == 1
    assert field_of([{**test_event, "specversion": None}]) == "[0].specversion"


def test_attributes_may_come_as_objects_too():
    event = taskrouter_event("task.created", task_attributes={"conversationSid": CONVERSATION_SID})
    mapped = domain_event(parse_event(json.loads(json.dumps(event))))
    assert isinstance(mapped, TaskRouterEvent) and mapped.conversation_sid == CONVERSATION_SID
