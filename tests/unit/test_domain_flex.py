"""The rules issue 15 adds to the conversation state, pure and without mocks: agents leave through
the service, the chat closed by someone else (and who), the customer's routing kept for rule 4,
and a chat Flex keeps open on purpose (rule 12)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.outbox import done
from tests.support.settings import sid
from worker.domain.events import ConversationEvent, TaskRouterEvent
from worker.domain.model import (
    CLOSED,
    INFLIGHT,
    ClosedBy,
    CloseReason,
    ConversationState,
    KeptOpen,
    NoticeType,
    OutboxKind,
    Routing,
    TransferInfo,
    Unanswered,
)

CH = sid("CH", 1)
TASK_A, TASK_B, TASK_C = (sid("WT", n) for n in (0xA, 0xB, 0xC))
KD, UO = sid("KD", 1), sid("UO", 1)
ALICE = ("alice", sid("WK", 1), "Alice")
BOB = ("bob", sid("WK", 2), "Bob")
ROUTING = Routing(workflow_sid=sid("WW", 1), task_channel="chat", priority=5, attributes={"name": "Maria"})


def items(state: ConversationState, kind: OutboxKind) -> list:
    return [item for item in state.outbox if item.kind == kind]


def notices(state: ConversationState) -> list[str]:
    return [item.id.split(":", 1)[1] for item in items(state, OutboxKind.NOTICE)]


def warm_chat(*, interaction: bool = False) -> ConversationState:
    """A in the chat, B joined by a warm transfer: two assigned tasks in flight."""
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO) if interaction else None)
    state.accepted(*ALICE, TASK_A)
    state.track(TASK_B, transfer=TransferInfo("TR1", "WARM", TASK_A, "Bob"))
    state.accepted(*BOB, TASK_B)
    state.outbox.clear()
    return state


def drain_to_end(state: ConversationState) -> bool:
    """What a drainer does: work every item in order; at the end, phase two with nothing else in
    flight, and the end finished once confirmed. Returns whether it confirmed an end."""
    for item in list(state.outbox):
        if item.kind == OutboxKind.END:
            confirmed = state.confirm_end([])
            if confirmed:
                done(state, item.id)
            return confirmed
        done(state, item.id)
    return False


# ---- leaving through the service (POST /tasks/<WT>/leave) ---------------------------------------


def test_b_leaving_first_closes_only_b_and_says_so_once() -> None:
    state = warm_chat()
    assert state.leave(TASK_B) is True
    assert state.tasks[TASK_B].status == CLOSED
    assert state.tasks[TASK_B].reason == CloseReason.LEFT
    assert state.inflight() == [TASK_A]
    assert [item.data for item in items(state, OutboxKind.LEAVE)] == [{"task": TASK_B, "identity": "bob"}]
    assert notices(state) == [f"left:{TASK_B}:bob"]
    assert state.ended is None and not items(state, OutboxKind.END)
    assert state.leave(TASK_B) is False  # the same request again (a retry, a double click)
    assert len(items(state, OutboxKind.LEAVE)) == 1


def test_the_last_agent_leaving_ends_the_chat_after_leaving_it() -> None:
    state = warm_chat()
    state.leave(TASK_B)
    state.leave(TASK_A)
    kinds = [item.kind for item in state.outbox]
    assert kinds.count(OutboxKind.END) == 1 and kinds[-1] == OutboxKind.END
    assert kinds.index(OutboxKind.LEAVE) < kinds.index(OutboxKind.END)
    assert state.end_reason == f"last task {TASK_A} left"
    assert drain_to_end(state) is True


def test_a_leave_after_the_task_closed_does_nothing() -> None:
    state = warm_chat()
    state.close(TASK_B, CloseReason.WRAPUP)
    before = state.to_dict()
    assert state.leave(TASK_B) is False
    assert state.to_dict() == before


def test_the_events_of_a_left_task_change_nothing_more() -> None:
    state = warm_chat()
    state.leave(TASK_B)
    before = state.to_dict()
    for reason in (CloseReason.WRAPUP, CloseReason.COMPLETED, CloseReason.DELETED):
        assert state.close(TASK_B, reason) is False
    assert state.participant_removed("bob") is False
    assert state.to_dict() == before


def test_leaving_a_transfer_task_is_not_a_transfer_nobody_took() -> None:
    state = warm_chat()
    state.leave(TASK_A)
    state.leave(TASK_B)
    assert "transfer-failed:TR1" not in notices(state)
    assert not items(state, OutboxKind.REQUEUE)


def test_a_leave_of_a_task_the_chat_never_heard_of_tracks_and_closes_it() -> None:
    state = warm_chat()
    assert state.leave(TASK_C) is True
    assert state.tasks[TASK_C].status == CLOSED
    assert [item.data for item in items(state, OutboxKind.LEAVE)] == [{"task": TASK_C}]


LeaveStep = Callable[[ConversationState], object]
STEPS: dict[str, LeaveStep] = {
    "A leaves": lambda s: s.leave(TASK_A),
    "B leaves": lambda s: s.leave(TASK_B),
    "A completed": lambda s: s.close(TASK_A, CloseReason.COMPLETED),
    "B completed": lambda s: s.close(TASK_B, CloseReason.COMPLETED),
    "B removed": lambda s: s.participant_removed("bob"),
    "drain": drain_to_end,
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=2, max_size=12))
def test_two_agents_leaving_at_once_end_the_chat_exactly_once_and_never_leave_the_customer_alone(
    steps: list[str],
) -> None:
    """The Flex template's race (remove-participant.js: both agents leave at the same moment and
    the customer is left alone in an open interaction): here each leave is one transition on the
    chat, so whichever comes last ends it, once, whatever else arrives, twice or out of order."""
    state = warm_chat(interaction=True)
    confirmed = 0
    for step in [*steps, "A leaves", "B leaves", *steps, "drain"]:
        outcome = STEPS[step](state)
        confirmed += step == "drain" and outcome is True
        assert len(items(state, OutboxKind.END)) <= 1
    assert not state.inflight()
    assert state.ended == "ended" and confirmed == 1
    left = [key for key in state.notices if key.startswith("left:")]
    assert sorted(left) == sorted({f"left:{TASK_A}:alice", f"left:{TASK_B}:bob"})


# ---- closed by someone else: rule 5 and who did it -----------------------------------------------


@pytest.mark.parametrize(
    ("source", "identity", "reason", "interaction", "expected"),
    [
        ("SDK", "bob", None, False, ClosedBy.AGENT),  # an agent's End chat (Flex UI, Conversations SDK)
        ("SDK", "maria", None, False, ClosedBy.CUSTOMER),
        ("SDK", None, None, False, ClosedBy.CUSTOMER),
        ("API", None, "API", True, ClosedBy.AGENT),  # Flex's End chat closes the interaction channel
        ("API", None, "API", False, ClosedBy.OTHER),  # a REST call
        (None, None, "TIMER", False, ClosedBy.OTHER),  # the conversation's closed timer
        (None, None, None, False, ClosedBy.OTHER),  # onConversationStateUpdated names no source
    ],
)
def test_who_closed_the_conversation(
    source: str | None, identity: str | None, reason: str | None, interaction: bool, expected: ClosedBy
) -> None:
    state = warm_chat(interaction=interaction)
    assert state.closer(source, identity, reason) == expected


def test_an_agents_end_chat_cancels_the_waiting_transfer_and_stops_every_notice() -> None:
    state = warm_chat()
    state.track(TASK_C, transfer=TransferInfo("TR2", "WARM", TASK_A, "Carol"))
    state.notice("joined:x", NoticeType.JOINED, workerName="X")
    assert state.conversation_closed(ClosedBy.AGENT) is True
    assert state.closed_by == ClosedBy.AGENT
    assert [item.data for item in items(state, OutboxKind.CANCEL_TASKS)] == [{"tasks": [TASK_C]}]
    assert notices(state) == []  # what was queued is never posted into a closed conversation
    state.close(TASK_B, CloseReason.WRAPUP)
    state.close(TASK_C, CloseReason.CANCELED)  # the canceled transfer: no transfer-failed, no requeue
    state.close(TASK_A, CloseReason.WRAPUP)
    assert notices(state) == [] and not items(state, OutboxKind.REQUEUE)
    assert state.end_reason == "closed by the agent"
    assert drain_to_end(state) is True


def test_who_closed_it_is_learned_once_and_only_made_more_precise() -> None:
    state = warm_chat()
    assert state.conversation_closed(ClosedBy.OTHER) is True  # the state webhook names nobody
    assert state.conversation_closed(ClosedBy.AGENT) is True  # onConversationUpdated: the agent
    assert state.closed_by == ClosedBy.AGENT
    assert state.conversation_closed(ClosedBy.CUSTOMER) is False
    assert state.conversation_closed(ClosedBy.OTHER) is False
    assert state.closed_by == ClosedBy.AGENT
    assert len(items(state, OutboxKind.CANCEL_TASKS)) == 0  # nothing was waiting


def test_the_services_own_close_echoed_back_is_not_someone_elses() -> None:
    state = warm_chat()
    state.close(TASK_A, CloseReason.COMPLETED)
    state.close(TASK_B, CloseReason.COMPLETED)
    assert drain_to_end(state) is True
    state.conversation_closed(ClosedBy.AGENT)
    assert state.closed_by is None


# ---- the customer's routing, kept for rule 4 ----------------------------------------------------


def test_the_routing_is_kept_once_per_chat() -> None:
    state = warm_chat()
    assert state.remember_routing(ROUTING) is True
    other = Routing(workflow_sid=sid("WW", 2), attributes={"transferTargetSid": "WK"})
    assert state.remember_routing(other) is False
    assert state.routing == ROUTING
    assert ConversationState.from_dict(state.to_dict()).routing == ROUTING


def test_a_requeue_carries_no_copy_of_the_routing() -> None:
    state = ConversationState(sid=CH)
    state.track(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.remember_routing(ROUTING)
    state.track(TASK_B, transfer=TransferInfo("TR1", "COLD", TASK_A, "Bob"))
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.TIMED_OUT, policy=Unanswered.REQUEUE)
    [requeue] = items(state, OutboxKind.REQUEUE)
    assert requeue.data == {"hold": "requeue:TR1", "from_task": TASK_A}
    assert state.open_holds() == ["requeue:TR1"]


# ---- Flex keeps a chat open on purpose (rule 12) --------------------------------------------------


@pytest.mark.parametrize("why", list(KeptOpen))
def test_a_chat_flex_keeps_open_is_not_ended_and_its_resume_is_a_new_first_task(why: KeptOpen) -> None:
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO))
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.ended == "ending"
    assert state.kept_open_by_flex(why) is True
    assert state.ended is None and state.kept_open == why
    assert not items(state, OutboxKind.END)
    assert state.must_end() is False
    assert state.close(TASK_A, CloseReason.DELETED) is False  # its late events change nothing
    assert state.kept_open_by_flex(why) is False

    # The customer writes again: Flex routes a new task on the same conversation.
    assert state.track(TASK_C) is True
    assert state.tasks[TASK_C].status == INFLIGHT
    assert not items(state, OutboxKind.CANCEL_TASKS)
    assert state.kept_open is None
    state.accepted(*BOB, TASK_C)
    assert f"joined:{TASK_C}:bob" in notices(state)
    state.close(TASK_C, CloseReason.COMPLETED)
    assert state.ended == "ending"  # and this time, if Flex does not keep it, it ends
    assert drain_to_end(state) is True


def test_only_an_end_under_way_can_be_called_off_for_flex() -> None:
    state = warm_chat(interaction=True)
    assert state.kept_open_by_flex(KeptOpen.INACTIVE) is False
    assert state.kept_open is None


# ---- every combination of the new signals, delivered twice, keeps the invariants ---------------


SIGNALS: dict[str, LeaveStep] = {
    **STEPS,
    "closed by agent": lambda s: s.conversation_closed(ClosedBy.AGENT),
    "closed by someone": lambda s: s.conversation_closed(ClosedBy.OTHER),
    "kept open": lambda s: s.kept_open_by_flex(KeptOpen.PARKED),
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(SIGNALS)), max_size=10))
def test_no_history_ends_twice_or_posts_after_a_close_by_someone_else(history: list[str]) -> None:
    state = warm_chat(interaction=True)
    confirmed = 0
    for name in history + history:
        outcome = SIGNALS[name](state)
        confirmed += name == "drain" and outcome is True
        assert len(items(state, OutboxKind.END)) <= 1 and confirmed <= 1
        if state.customer_left:
            assert not items(state, OutboxKind.NOTICE)
        if state.kept_open is not None:
            assert state.ended is None and not items(state, OutboxKind.END)


# ---- what TaskRouter and Conversations events mean --------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "reason", "expected"),
    [
        ("task.canceled", "Task TTL Exceeded", CloseReason.TIMED_OUT),
        ("task.canceled", "Task TTL Exceeded or Max assignment count exceeded", CloseReason.TIMED_OUT),
        ("task.canceled", " Task TTL Exceeded ", CloseReason.TIMED_OUT),
        ("task.canceled", "Workflow Timeout", CloseReason.CANCELED),
        ("task.canceled", "Interaction channel closed", CloseReason.CANCELED),
        ("task.canceled", None, CloseReason.CANCELED),
        ("task.system-deleted", None, CloseReason.DELETED),
        ("task.deleted", None, CloseReason.DELETED),
        ("task.wrapup", None, CloseReason.WRAPUP),
        ("task.updated", "Task TTL Exceeded", None),
    ],
)
def test_how_a_taskrouter_event_closes_its_task(
    event_type: str, reason: str | None, expected: CloseReason | None
) -> None:
    fields = {
        "EventType": event_type,
        "TaskSid": TASK_A,
        **({"TaskCanceledReason": reason} if reason else {}),
    }
    assert TaskRouterEvent.from_form(fields).close_reason == expected


@pytest.mark.parametrize(
    ("fields", "closes"),
    [
        ({"EventType": "onConversationStateUpdated", "StateTo": "closed"}, True),
        ({"EventType": "onConversationStateUpdated", "StateTo": "inactive"}, False),
        ({"EventType": "onConversationUpdated", "State": "closed", "Source": "SDK"}, True),
        ({"EventType": "onConversationUpdated", "State": "active"}, False),
        ({"EventType": "onConversationRemoved"}, True),
        ({"EventType": "onMessageAdded"}, False),
    ],
)
def test_which_conversations_events_close_it(fields: dict[str, str], closes: bool) -> None:
    assert ConversationEvent.from_form({"ConversationSid": CH, **fields}).closes_the_conversation is closes


# ---- what the drainer reads of the interaction channel before it ends the chat -----------------

PARKED = {"interactionSid": KD, "channelSid": UO, "taskSid": TASK_A, "taskAttributes": "{}"}


def ending_chat() -> ConversationState:
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO))
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.ended == "ending"
    return state


@pytest.mark.parametrize(
    ("status", "attributes", "kept"),
    [
        ("inactive", {}, KeptOpen.INACTIVE),  # Flex's Leave
        ("pause", {}, KeptOpen.PAUSE),  # Flex's Pause
        ("active", PARKED, KeptOpen.PARKED),  # the template's Park
        ("active", {**PARKED, "taskSid": TASK_B}, None),  # a park of an earlier task, since resumed
        ("active", {"associatedTasks": {}}, None),  # nothing keeps it: the end goes on
        ("active", {}, None),
    ],
)
def test_the_channel_says_whether_flex_keeps_the_chat_open(
    status: str, attributes: dict, kept: KeptOpen | None
) -> None:
    state = ending_chat()
    assert state.channel_seen(status, attributes) is (kept is not None)
    assert state.kept_open == kept
    assert state.ended == (None if kept else "ending")


def test_a_channel_flex_already_closed_is_the_agents_end_chat_and_the_end_goes_on_quietly() -> None:
    state = ending_chat()
    state.notice("joined:late", NoticeType.JOINED, workerName="Late")
    assert state.channel_seen("closed", {}) is True
    assert (state.customer_left, state.closed_by) == (True, ClosedBy.AGENT)
    assert state.ended == "ending" and not items(state, OutboxKind.NOTICE)
    assert drain_to_end(state) is True


def test_a_requeue_not_yet_done_when_the_conversation_closes_is_called_off_and_the_chat_ends() -> None:
    """Flex's End chat cancels a pending transfer: to the service, a transfer nobody took, and
    the customer would be requeued; the close (heard after) calls that off."""
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO))
    state.accepted(*ALICE, TASK_A)
    state.track(TASK_B, transfer=TransferInfo("TR1", "WARM", TASK_A, "Bob"))
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.CANCELED)
    assert items(state, OutboxKind.REQUEUE) and state.ended is None
    assert state.conversation_closed(ClosedBy.AGENT) is True
    assert not items(state, OutboxKind.REQUEUE) and not items(state, OutboxKind.NOTICE)
    assert state.holds["requeue:TR1"].state == "failed"
    assert state.ended == "ending" and state.end_reason == "closed by the agent"
    assert drain_to_end(state) is True


def test_a_leave_before_the_accept_was_heard_still_says_joined_then_left() -> None:
    state = ConversationState(sid=CH)
    state.track(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.track(TASK_C)
    state.offered(*BOB, TASK_C)  # reservation.accepted for Bob not handled yet
    assert state.leave(TASK_C) is True
    assert notices(state)[-2:] == [f"joined:{TASK_C}:bob", f"left:{TASK_C}:bob"]
    assert [item.data for item in items(state, OutboxKind.LEAVE)] == [{"task": TASK_C, "identity": "bob"}]
    state.accepted(*BOB, TASK_C)  # then it arrives: nothing more to say
    assert notices(state).count(f"joined:{TASK_C}:bob") == 1


def test_the_routing_attributes_are_kept_only_while_a_requeue_could_need_them() -> None:
    state = ConversationState(sid=CH)
    state.track(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.open_hold("TR1", "transfer", 0.0)
    state.remember_routing(ROUTING)
    state.hold_created("TR1", TASK_B, transfer=TransferInfo("TR1", "WARM", TASK_A, "Bob"))
    assert state.routing is not None and state.routing.attributes == ROUTING.attributes  # B may not answer
    state.accepted(*BOB, TASK_B)
    assert state.routing.attributes == {}  # B took it: no requeue can come of this transfer
    assert state.routing.workflow_sid == ROUTING.workflow_sid  # the customer's workflow stays

    # B transfers on: the attributes come back from B's task, the workflow stays the customer's.
    state.open_hold("TR2", "transfer", 0.0)
    from_b = Routing(workflow_sid=sid("WW", 9), attributes={"name": "Maria", "transferType": "WARM"})
    assert state.remember_routing(from_b) is True
    assert state.routing == Routing(ROUTING.workflow_sid, "chat", 5, from_b.attributes)
    state.hold_created("TR2", TASK_C, transfer=TransferInfo("TR2", "COLD", TASK_B, "Carol"))
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.LEFT)
    state.close(TASK_C, CloseReason.TIMED_OUT)  # nobody took it: the requeue needs them
    assert state.open_holds() == ["requeue:TR2"] and state.routing.attributes == from_b.attributes
    state.hold_created("requeue:TR2", sid("WT", 0xD))
    assert state.routing.attributes == {}
