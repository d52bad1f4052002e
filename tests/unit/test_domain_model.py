"""The conversation state machine, pure and without mocks: every rule of CONTRACT §6 it owns.

Each test drives `ConversationState` through its public transitions and checks what a drainer
would see in the outbox: which notices, whether the chat is to be ended, which tasks to cancel.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict

import pytest

from tests.support.outbox import done, work_off
from tests.support.settings import sid
from worker.domain.model import (
    CLOSED,
    INFLIGHT,
    CloseReason,
    ConversationState,
    EndStep,
    Hold,
    Lease,
    LeaseLost,
    Member,
    NoticeType,
    OutboxItem,
    OutboxKind,
    RetryLimits,
    TrackedTask,
    TransferInfo,
    Unanswered,
    end_step,
)

CH = sid("CH", 1)
TASK_A, TASK_B, TASK_C, TASK_D = (sid("WT", n) for n in (0xA, 0xB, 0xC, 0xD))
KD, UO = sid("KD", 1), sid("UO", 1)
ALICE = ("alice", sid("WK", 1), "Alice")
BOB = ("bob", sid("WK", 2), "Bob")
CAROL = ("carol", sid("WK", 3), "Carol")


def chat(*tasks: str) -> ConversationState:
    state = ConversationState(sid=CH)
    for task in tasks:
        state.track(task)
    return state


def notices(state: ConversationState) -> list[str]:
    """Keys of the notices waiting in the outbox, in order."""
    return [item.id.split(":", 1)[1] for item in state.outbox if item.kind == OutboxKind.NOTICE]


def notice_items(state: ConversationState) -> list[OutboxItem]:
    return [item for item in state.outbox if item.kind == OutboxKind.NOTICE]


def items(state: ConversationState, kind: OutboxKind) -> list[OutboxItem]:
    return [item for item in state.outbox if item.kind == kind]


def ends_queued(state: ConversationState) -> int:
    return len(items(state, OutboxKind.END))


def transfer(transfer_id: str = "TR1", mode: str = "WARM", from_task: str = TASK_A) -> TransferInfo:
    return TransferInfo(transfer_id=transfer_id, mode=mode, from_task=from_task, target_name="Bob")


def work_before_end(state: ConversationState) -> list[str]:
    """What a drainer does before it reaches the end: work (here, finish) every item ahead of it.

    Returns the keys of the notices it posted."""
    posted = []
    for item in list(state.outbox):
        if item.kind == OutboxKind.END:
            break
        if item.kind == OutboxKind.NOTICE:
            posted.append(item.id.split(":", 1)[1])
        done(state, item.id)
    return posted


def end_now(state: ConversationState) -> None:
    """The drainer's phase two with TaskRouter reporting nothing else in flight."""
    assert state.ended == "ending"
    work_before_end(state)
    assert state.confirm_end([]) is True


# ---- tracking (rule 1) -------------------------------------------------------------------------


def test_a_tracked_task_is_in_flight_and_mirrored() -> None:
    state = ConversationState(sid=CH)
    assert state.track(TASK_A) is True
    assert state.tasks[TASK_A].status == INFLIGHT
    assert state.inflight() == [TASK_A]
    assert state.associated_tasks() == {TASK_A: "inflight"}
    assert len(items(state, OutboxKind.MIRROR)) == 1
    assert state.must_end() is False


def test_tracking_the_same_task_again_changes_nothing() -> None:
    state = chat(TASK_A)
    before = state.to_dict()
    assert state.track(TASK_A) is False
    assert state.to_dict() == before


def test_the_first_interaction_and_language_are_kept() -> None:
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO), language="es-MX")
    state.track(TASK_B, interaction=(sid("KD", 2), sid("UO", 2)), language="pt-BR")
    assert state.interaction == [KD, UO]
    assert state.language == "es-MX"


def test_transfer_information_is_added_to_a_known_task_once() -> None:
    state = chat(TASK_B)
    assert state.track(TASK_B, transfer=transfer("TR1")) is True
    assert state.tasks[TASK_B].transfer == transfer("TR1")
    assert state.track(TASK_B, transfer=transfer("TR2")) is False
    assert state.tasks[TASK_B].transfer == transfer("TR1")


def test_close_marks_the_task_closed_with_its_reason() -> None:
    state = chat(TASK_A, TASK_B)
    assert state.close(TASK_A, CloseReason.WRAPUP) is True
    assert state.tasks[TASK_A].status == CLOSED
    assert state.tasks[TASK_A].reason == "wrapup"
    assert state.associated_tasks() == {TASK_A: "completed", TASK_B: "inflight"}


@pytest.mark.parametrize("later", list(CloseReason))
def test_closed_is_final_whatever_closes_it_again(later: CloseReason) -> None:
    state = chat(TASK_A, TASK_B)
    state.close(TASK_A, CloseReason.WRAPUP)
    before = state.to_dict()
    assert state.close(TASK_A, later) is False
    assert state.to_dict() == before


def test_a_late_task_created_after_the_close_does_not_reopen_it() -> None:
    state = chat(TASK_A, TASK_B)
    state.close(TASK_B, CloseReason.COMPLETED)
    assert state.track(TASK_B) is False
    assert state.tasks[TASK_B].status == CLOSED
    assert state.inflight() == [TASK_A]


def test_a_close_before_the_task_was_created_is_remembered() -> None:
    state = chat(TASK_A)
    assert state.close(TASK_B, CloseReason.COMPLETED) is True
    assert state.tasks[TASK_B].status == CLOSED
    assert state.track(TASK_B) is False
    assert state.tasks[TASK_B].status == CLOSED
    assert state.inflight() == [TASK_A]
    assert ends_queued(state) == 0


def test_a_close_of_the_only_known_task_before_its_creation_still_asks_to_end() -> None:
    state = ConversationState(sid=CH)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.ended == "ending"
    assert ends_queued(state) == 1
    # Phase two finds B in flight at TaskRouter: no end, and B is tracked from now on.
    assert state.confirm_end([TASK_B]) is False
    assert state.inflight() == [TASK_B]
    assert state.track(TASK_A) is False
    assert state.tasks[TASK_A].status == CLOSED


def test_a_task_created_after_the_chat_ended_is_kept_closed() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    end_now(state)
    done(state, items(state, OutboxKind.END)[0].id)
    assert state.track(TASK_C) is True
    assert state.tasks[TASK_C].status == CLOSED
    assert state.ended == "ended"
    assert state.must_end() is False
    assert ends_queued(state) == 0


def test_a_task_created_while_ending_calls_the_end_off() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert ends_queued(state) == 1
    state.track(TASK_B)
    assert state.ended is None
    assert ends_queued(state) == 0
    assert state.confirm_end([]) is False
    state.close(TASK_B, CloseReason.COMPLETED)
    end_now(state)


def test_no_task_tracked_means_nothing_to_end() -> None:
    state = ConversationState(sid=CH)
    assert state.must_end() is False
    assert state.customer_closed() is True
    assert state.must_end() is False
    assert ends_queued(state) == 0


# ---- the last task ends the chat (rule 2): the seed's story --------------------------------------


@pytest.mark.parametrize(("first", "last"), [(TASK_B, TASK_A), (TASK_A, TASK_B)], ids=["B-first", "A-first"])
def test_the_seed_story_ends_the_chat_once_when_the_last_task_ends(first: str, last: str) -> None:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.track(TASK_B)  # A warm-transfers to B: B's task is tracked on the same chat
    state.accepted(*BOB, TASK_B)

    state.close(first, CloseReason.COMPLETED)
    assert state.must_end() is False
    assert state.ended is None
    assert ends_queued(state) == 0
    assert state.inflight() == [last]

    state.close(last, CloseReason.COMPLETED)
    assert state.ended == "ending"
    assert ends_queued(state) == 1
    assert state.end_reason == f"last task {last} completed"

    state.close(last, CloseReason.COMPLETED)  # redelivered
    state.close(first, CloseReason.COMPLETED)
    assert ends_queued(state) == 1
    assert sorted(notices(state)) == sorted(
        [f"joined:{TASK_A}:alice", f"joined:{TASK_B}:bob", f"left:{TASK_A}:alice", f"left:{TASK_B}:bob"]
    )
    assert state.outbox[-1].kind == OutboxKind.END  # the notices are posted before the chat closes

    assert state.confirm_end([]) is True
    assert state.confirm_end([]) is False
    assert state.ended == "ended"


# ---- phase two of the end ------------------------------------------------------------------------


def test_confirm_end_aborts_when_taskrouter_reports_an_untracked_task() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    done(state, items(state, OutboxKind.MIRROR)[0].id)
    assert state.confirm_end([TASK_C]) is False
    assert state.ended is None
    assert state.end_reason is None
    assert ends_queued(state) == 0
    assert state.tasks[TASK_C].status == INFLIGHT
    assert len(items(state, OutboxKind.MIRROR)) == 1  # the new task goes into associatedTasks

    state.close(TASK_C, CloseReason.COMPLETED)
    assert ends_queued(state) == 1
    assert state.confirm_end([]) is True


def test_confirm_end_commits_when_taskrouter_only_reports_tasks_we_know_are_closed() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.WRAPUP)
    assert state.confirm_end([TASK_A]) is True
    assert state.tasks[TASK_A].status == CLOSED


def test_confirm_end_commits_exactly_once() -> None:
    state = chat(TASK_A, TASK_B)
    state.close(TASK_A, CloseReason.COMPLETED)
    state.close(TASK_B, CloseReason.COMPLETED)
    results = [state.confirm_end([]) for _ in range(5)]
    assert results == [True, False, False, False, False]
    assert state.ended == "ended"


def test_confirm_end_does_nothing_unless_an_end_was_decided() -> None:
    state = chat(TASK_A)
    assert state.confirm_end([]) is False
    assert state.ended is None
    assert state.tasks[TASK_A].status == INFLIGHT


def test_confirm_end_aborts_when_a_transfer_began_meanwhile() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    state.open_hold("TR1", "transfer", now=10.0)
    assert state.confirm_end([]) is False
    assert state.ended is None
    assert ends_queued(state) == 0
    state.hold_created("TR1", TASK_B)
    assert ends_queued(state) == 0
    state.close(TASK_B, CloseReason.COMPLETED)
    end_now(state)


# ---- holds ----------------------------------------------------------------------------------------


def test_an_open_hold_blocks_the_end_and_its_failure_releases_it() -> None:
    state = chat(TASK_A)
    assert state.open_hold("TR1", "transfer", now=1.0) is True
    assert state.open_hold("TR1", "transfer", now=2.0) is False
    assert state.holds["TR1"].opened_at == 1.0
    state.close(TASK_A, CloseReason.WRAPUP)
    assert state.must_end() is False
    assert ends_queued(state) == 0

    assert state.hold_failed("TR1", "target unknown") is True
    assert state.holds["TR1"].state == "failed"
    assert state.failures == [{"hold": "TR1", "reason": "target unknown"}]
    assert ends_queued(state) == 1
    assert state.hold_failed("TR1", "again") is False
    assert len(state.failures) == 1


def test_a_created_hold_tracks_its_task_before_releasing() -> None:
    state = chat(TASK_A)
    state.open_hold("TR1", "transfer", now=1.0)
    state.close(TASK_A, CloseReason.WRAPUP)  # cold transfer: A wraps up while B is being created
    assert state.hold_created("TR1", TASK_B, transfer=transfer(mode="COLD")) is True
    assert state.holds["TR1"].state == "created"
    assert state.holds["TR1"].task_sid == TASK_B
    assert state.inflight() == [TASK_B]
    assert ends_queued(state) == 0
    state.close(TASK_B, CloseReason.COMPLETED)
    end_now(state)


def test_a_hold_created_for_a_task_already_closed_lets_the_chat_end() -> None:
    state = chat(TASK_A)
    state.open_hold("TR1", "transfer", now=1.0)
    state.close(TASK_A, CloseReason.COMPLETED)
    state.close(TASK_B, CloseReason.COMPLETED)  # its events outran the transfer handler
    assert ends_queued(state) == 0
    state.hold_created("TR1", TASK_B)
    assert ends_queued(state) == 1


def test_the_transfer_is_announced_once() -> None:
    state = chat(TASK_A)
    state.open_hold("TR1", "transfer", now=1.0)
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="WARM"))
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="WARM"))
    assert notices(state) == ["transfer-started:TR1"]
    item = notice_items(state)[0]
    assert item.data == {"type": "transfer-started", "targetName": "Bob", "transferType": "WARM"}
    assert state.tasks[TASK_B].transfer == transfer(mode="WARM")


def test_holds_expire_only_after_their_age_and_then_release_the_end() -> None:
    state = chat(TASK_A)
    state.open_hold("old", "transfer", now=100.0)
    state.open_hold("young", "requeue", now=200.0)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.expire_holds(now=400.0, max_age=300.0) == []  # exactly max_age is not older
    assert state.expire_holds(now=401.0, max_age=300.0) == ["old"]
    assert state.holds["old"].state == "expired"
    assert ends_queued(state) == 0  # "young" is still open
    assert state.expire_holds(now=401.0, max_age=300.0) == []
    assert state.expire_holds(now=501.0, max_age=300.0) == ["young"]
    assert ends_queued(state) == 1


def test_a_closed_hold_cannot_be_reopened() -> None:
    state = chat(TASK_A)
    state.open_hold("TR1", "transfer", now=1.0)
    state.hold_failed("TR1", "nope")
    assert state.open_hold("TR1", "transfer", now=2.0) is False
    assert state.open_holds() == []


# ---- a transfer nobody takes (rule 4) --------------------------------------------------------------


def transfer_chat(mode: str) -> ConversationState:
    """A is with Alice; a transfer to Bob created task B (not yet accepted)."""
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.open_hold("TR1", "transfer", now=5.0)
    state.hold_created("TR1", TASK_B, transfer=transfer(mode=mode))
    return state


@pytest.mark.parametrize("reason", [CloseReason.CANCELED, CloseReason.TIMED_OUT, CloseReason.DELETED])
def test_a_warm_transfer_nobody_takes_is_announced_and_the_first_agent_keeps_the_chat(
    reason: CloseReason,
) -> None:
    state = transfer_chat("WARM")
    state.close(TASK_B, reason)
    assert "transfer-failed:TR1" in notices(state)
    failed = next(i for i in notice_items(state) if i.data["type"] == "transfer-failed")
    assert failed.data == {"type": "transfer-failed", "targetName": "Bob", "transferType": "WARM"}
    assert items(state, OutboxKind.REQUEUE) == []
    assert "requeue:TR1" not in state.holds
    assert state.ended is None
    assert state.inflight() == [TASK_A]


@pytest.mark.parametrize("reason", [CloseReason.CANCELED, CloseReason.TIMED_OUT, CloseReason.DELETED])
def test_a_cold_transfer_nobody_takes_requeues_the_customer(reason: CloseReason) -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, reason, policy=Unanswered.REQUEUE, now=50.0)
    assert "transfer-failed:TR1" in notices(state)
    requeues = items(state, OutboxKind.REQUEUE)
    assert [i.data for i in requeues] == [{"hold": "requeue:TR1", "from_task": TASK_A}]
    assert state.holds["requeue:TR1"] == Hold(kind="requeue", opened_at=50.0)
    assert state.ended is None
    assert ends_queued(state) == 0

    # The requeue created task C: the chat now waits for C.
    state.hold_created("requeue:TR1", TASK_C)
    assert ends_queued(state) == 0
    state.close(TASK_C, CloseReason.COMPLETED)
    end_now(state)


def test_a_cold_transfer_nobody_takes_ends_the_chat_under_the_end_policy() -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.CANCELED, policy=Unanswered.END, now=50.0)
    assert "transfer-failed:TR1" in notices(state)
    assert items(state, OutboxKind.REQUEUE) == []
    assert state.holds.keys() == {"TR1"}
    assert ends_queued(state) == 1
    # The failure notice is posted before the chat is closed.
    kinds = [i.kind for i in state.outbox]
    assert kinds.index(OutboxKind.END) > max(i for i, k in enumerate(kinds) if k == OutboxKind.NOTICE)


def test_a_failed_requeue_lets_the_chat_end() -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.CANCELED)
    assert ends_queued(state) == 0
    state.hold_failed("requeue:TR1", "original workflow gone")
    assert ends_queued(state) == 1


@pytest.mark.parametrize("reason", [CloseReason.WRAPUP, CloseReason.COMPLETED])
def test_a_transfer_that_was_taken_is_not_a_failure(reason: CloseReason) -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.accepted(*BOB, TASK_B)
    state.close(TASK_B, reason)
    assert not any(key.startswith("transfer-failed") for key in notices(state))
    assert items(state, OutboxKind.REQUEUE) == []
    assert ends_queued(state) == 1


def test_a_transfer_task_deleted_after_it_was_accepted_is_not_a_failure() -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.accepted(*BOB, TASK_B)
    state.close(TASK_B, CloseReason.DELETED)
    assert not any(key.startswith("transfer-failed") for key in notices(state))
    assert items(state, OutboxKind.REQUEUE) == []


def test_a_transfer_nobody_takes_after_the_customer_left_is_not_requeued() -> None:
    state = transfer_chat("COLD")
    state.close(TASK_A, CloseReason.WRAPUP)
    state.customer_closed()
    state.close(TASK_B, CloseReason.CANCELED)
    assert items(state, OutboxKind.REQUEUE) == []
    assert notices(state) == []  # those queued before the close are dropped: a closed chat takes none
    assert ends_queued(state) == 1
    assert state.end_reason == "customer left"


def test_a_canceled_transfer_is_announced_even_when_its_cancel_outran_the_transfer_handler() -> None:
    """The transfer handler crashed after creating B; B timed out before the retry recorded it."""
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.open_hold("TR1", "transfer", now=5.0)
    state.close(TASK_B, CloseReason.TIMED_OUT)
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="WARM"))
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="WARM"))
    assert notices(state) == [f"joined:{TASK_A}:alice", "transfer-started:TR1", "transfer-failed:TR1"]
    assert state.inflight() == [TASK_A]
    assert items(state, OutboxKind.REQUEUE) == []


def test_a_late_recorded_cold_transfer_nobody_took_requeues_the_customer() -> None:
    state = chat(TASK_A)
    state.open_hold("TR1", "transfer", now=5.0)
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.CANCELED)
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="COLD"), policy=Unanswered.REQUEUE, now=60.0)
    assert "transfer-failed:TR1" in notices(state)
    assert [i.data for i in items(state, OutboxKind.REQUEUE)] == [
        {"hold": "requeue:TR1", "from_task": TASK_A}
    ]
    assert state.holds["requeue:TR1"].opened_at == 60.0
    assert ends_queued(state) == 0


# ---- joined and left (rule 6) -------------------------------------------------------------------


def test_an_accepted_reservation_announces_the_agent_once() -> None:
    state = chat(TASK_A)
    assert state.accepted(*ALICE, TASK_A) is True
    assert state.accepted(*ALICE, TASK_A) is False
    assert state.participant_added("alice") is False
    assert notices(state) == [f"joined:{TASK_A}:alice"]
    assert notice_items(state)[0].data == {"type": "joined", "workerName": "Alice"}
    assert state.tasks[TASK_A].assigned is True
    assert [m.identity for m in state.agents_in_chat()] == ["alice"]


def test_a_participant_we_do_not_know_is_not_announced() -> None:
    state = chat(TASK_A)
    assert state.participant_added("customer-42") is False
    assert state.participant_removed("customer-42") is False
    assert notices(state) == []


def test_an_offered_agent_joins_when_added_to_the_conversation() -> None:
    state = chat(TASK_A)
    assert state.offered(*ALICE, TASK_A) is True
    assert state.offered(*ALICE, TASK_A) is False
    assert notices(state) == []
    assert state.participant_added("alice") is True
    assert state.accepted(*ALICE, TASK_A) is True  # marks the task assigned, no second notice
    assert notices(state) == [f"joined:{TASK_A}:alice"]


def test_a_withdrawn_offer_does_not_join() -> None:
    state = chat(TASK_A)
    state.offered(*ALICE, TASK_A)
    assert state.withdrawn("alice", TASK_A) is True
    assert state.withdrawn("alice", TASK_A) is False
    assert state.participant_added("alice") is False
    assert notices(state) == []


def test_a_joined_agent_is_not_withdrawn() -> None:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    assert state.withdrawn("alice", TASK_A) is False
    assert [m.state for m in state.members] == ["joined"]


def test_an_offer_is_withdrawn_when_its_task_closes() -> None:
    state = chat(TASK_A, TASK_B)
    state.offered(*BOB, TASK_B)
    state.close(TASK_B, CloseReason.CANCELED)
    assert [m.state for m in state.members] == ["withdrawn"]
    assert state.participant_added("bob") is False
    assert notices(state) == []


def test_leaving_the_conversation_then_the_task_closing_says_left_once() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    assert state.participant_removed("alice") is True
    assert state.participant_removed("alice") is False
    state.close(TASK_A, CloseReason.WRAPUP)
    assert notices(state) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice"]
    assert state.agents_in_chat() == []


def test_a_late_participant_added_after_left_does_not_rejoin() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.WRAPUP)
    assert state.participant_added("alice") is False
    state.participant_removed("alice")
    assert notices(state) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice"]


def test_the_same_agent_on_a_later_task_is_announced_again() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.WRAPUP)
    state.track(TASK_C)
    state.accepted(*ALICE, TASK_C)
    assert notices(state) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice", f"joined:{TASK_C}:alice"]


AGENT_SIGNALS = {
    "accepted": lambda s: s.accepted(*ALICE, TASK_A),
    "added": lambda s: s.participant_added("alice"),
    "removed": lambda s: s.participant_removed("alice"),
    "closed": lambda s: s.close(TASK_A, CloseReason.COMPLETED),
}


@pytest.mark.parametrize("order", list(itertools.permutations(AGENT_SIGNALS)), ids="-".join)
def test_joined_and_left_exactly_once_whatever_order_the_signals_arrive_in(order: tuple[str, ...]) -> None:
    state = chat(TASK_A, TASK_B)  # B keeps the chat open
    for name in order + order:  # every signal delivered twice
        AGENT_SIGNALS[name](state)
    assert sorted(notices(state)) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice"]
    assert notices(state).index(f"joined:{TASK_A}:alice") < notices(state).index(f"left:{TASK_A}:alice")
    assert state.agents_in_chat() == []


def test_an_accepted_reservation_before_the_task_was_tracked_still_counts_as_assigned() -> None:
    state = chat(TASK_A)
    state.accepted(*BOB, TASK_B)  # reservation.accepted outran task.created
    state.track(TASK_B)
    assert state.tasks[TASK_B].assigned is True
    state.customer_closed()
    assert [i.data for i in items(state, OutboxKind.CANCEL_TASKS)] == [{"tasks": [TASK_A]}]


# ---- the customer leaves (rule 5) --------------------------------------------------------------


def test_the_customer_leaving_cancels_only_the_tasks_still_waiting() -> None:
    state = chat(TASK_A, TASK_B, TASK_C, TASK_D)
    state.accepted(*ALICE, TASK_A)  # assigned: TaskRouter would refuse to cancel it
    state.offered(*BOB, TASK_B)  # reserved: still cancelable
    state.close(TASK_D, CloseReason.COMPLETED)
    assert state.customer_closed() is True
    assert [i.data for i in items(state, OutboxKind.CANCEL_TASKS)] == [{"tasks": [TASK_B, TASK_C]}]
    assert state.customer_closed() is False
    assert len(items(state, OutboxKind.CANCEL_TASKS)) == 1


def test_the_customer_leaving_with_nothing_waiting_cancels_nothing() -> None:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    assert state.customer_closed() is True
    assert state.customer_left is True
    assert items(state, OutboxKind.CANCEL_TASKS) == []


def test_a_task_tracked_after_the_customer_left_is_canceled_too() -> None:
    state = chat(TASK_A)
    state.customer_closed()
    done(state, items(state, OutboxKind.CANCEL_TASKS)[0].id)
    state.track(TASK_B)  # its task.created arrived after the conversation closed
    assert [i.data for i in items(state, OutboxKind.CANCEL_TASKS)] == [{"tasks": [TASK_B]}]
    state.track(TASK_B)
    assert len(items(state, OutboxKind.CANCEL_TASKS)) == 1


def test_after_the_customer_left_no_notice_is_queued_and_the_end_says_why() -> None:
    state = chat(TASK_A)
    state.customer_closed()
    state.accepted(*ALICE, TASK_A)
    state.participant_removed("alice")
    state.close(TASK_A, CloseReason.CANCELED)
    assert notices(state) == []
    assert state.notices == []
    assert state.end_reason == "customer left"
    end_now(state)


def test_the_customer_leaving_after_the_end_changes_nothing_else() -> None:
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    end_now(state)
    assert state.customer_closed() is True
    assert items(state, OutboxKind.CANCEL_TASKS) == []


# ---- notices --------------------------------------------------------------------------------------


def test_a_notice_is_queued_once_per_key_ever() -> None:
    state = chat(TASK_A)
    assert state.notice("k1", NoticeType.JOINED, workerName="Alice") is True
    done(state, notice_items(state)[0].id)
    assert state.notice("k1", NoticeType.JOINED, workerName="Alice") is False
    assert state.notices == ["k1"]
    assert notices(state) == []


def test_no_notice_after_the_chat_ended() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    state.close(TASK_B, CloseReason.COMPLETED)
    end_now(state)
    queued = list(state.notices)
    assert state.notice("late", NoticeType.JOINED, workerName="X") is False
    assert state.accepted(*BOB, TASK_B) is True
    state.participant_added("bob")
    state.open_hold("TR9", "transfer", now=1.0)
    state.hold_created("TR9", TASK_C, transfer=transfer("TR9"))
    state.close(TASK_C, CloseReason.CANCELED)
    assert state.notices == queued


def test_a_notice_queued_while_the_end_is_pending_is_posted_before_the_end() -> None:
    state = chat(TASK_A, TASK_B)
    state.close(TASK_A, CloseReason.COMPLETED)
    state.close(TASK_B, CloseReason.COMPLETED)
    assert state.ended == "ending"
    state.accepted(*BOB, TASK_B)  # the acceptance is delivered late
    kinds = [i.kind for i in state.outbox]
    assert kinds[-1] == OutboxKind.END
    assert kinds.count(OutboxKind.NOTICE) == 2


def test_notices_queued_while_the_drainer_checks_the_end_are_posted_before_it() -> None:
    """The drainer takes the end while it is first in line; notices queued meanwhile go ahead of it."""
    state = chat(TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    fence = state.acquire_lease("drainer", now=0.0, ttl=60.0)
    assert fence is not None
    mirror = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert mirror is not None and mirror.kind == OutboxKind.MIRROR
    state.item_done(fence, mirror.id)
    end = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert end is not None and end.kind == OutboxKind.END
    state.accepted(*ALICE, TASK_A)  # delivered late: joined and left, queued ahead of the end

    assert state.end_checked(fence, end.id, []) is False  # not yet: the notices go first
    assert state.ended == "ending"
    assert [i.kind for i in state.outbox] == [OutboxKind.NOTICE, OutboxKind.NOTICE, OutboxKind.END]
    assert notices(state) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice"]

    taken = work_off(state)  # the same drainer goes on under its lease: nothing new is taken
    assert taken == []
    state.release_lease(fence)
    taken = work_off(state)
    assert [end_step(i) if i.kind == OutboxKind.END else i.kind for i in taken] == [
        OutboxKind.NOTICE,
        OutboxKind.NOTICE,
        EndStep.CHECK,
        EndStep.NOTICE,
        EndStep.CLOSE,
    ]
    assert state.ended == "ended"
    assert state.outbox == []
    assert state.lease is None


def test_the_end_confirmed_outside_a_drainer_leaves_the_queued_notices_ahead_of_it() -> None:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.lease is None
    assert state.confirm_end([]) is True
    assert [i.kind for i in state.outbox] == [
        OutboxKind.MIRROR,
        OutboxKind.NOTICE,
        OutboxKind.NOTICE,
        OutboxKind.END,
    ]


# ---- the outbox and its one, fenced drainer -----------------------------------------------------

LIMITS = RetryLimits(max_attempts=3, max_transient=4)


def test_an_empty_outbox_needs_no_lease() -> None:
    state = ConversationState(sid=CH)
    assert state.acquire_lease("w1", now=0.0, ttl=60.0) is None
    assert state.lease is None


def test_one_drainer_at_a_time_each_lease_with_a_new_fence() -> None:
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    assert state.acquire_lease("w1", now=100.0, ttl=60.0) == 1
    assert state.lease == Lease("w1", 160.0, 1)
    assert state.acquire_lease("w2", now=159.9, ttl=60.0) is None
    assert state.acquire_lease("w1", now=150.0, ttl=60.0) is None  # its own live lease too
    assert state.lease == Lease("w1", 160.0, 1)
    assert state.renew_lease(1, now=150.0, ttl=60.0) == 210.0  # the holder renews, by its fence
    assert state.acquire_lease("w2", now=210.0, ttl=60.0) == 2  # expired: taken over
    assert state.lease == Lease("w2", 270.0, 2)


def test_a_drainer_whose_lease_was_taken_over_writes_nothing() -> None:
    """Defect 1: the old holder's `finish` used to remove the item whoever held the lease."""
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    old = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert old is not None
    first = state.next_item(old, 0.0, 60.0, LIMITS)
    assert first is not None
    new = state.acquire_lease("w2", now=61.0, ttl=60.0)
    assert new == old + 1
    before = json.dumps(state.to_dict())
    for write in (
        lambda: state.item_done(old, first.id),
        lambda: state.next_item(old, 61.0, 60.0, LIMITS),
        lambda: state.renew_lease(old, 61.0, 60.0),
        lambda: state.item_refused(old, first.id, "403", closed_or_gone=False, retry_at=0.0),
        lambda: state.item_failed(
            old, first.id, "500", transient=True, retry_at=0.0, limits=LIMITS, now=61.0
        ),
        lambda: state.end_checked(old, first.id, []),
    ):
        with pytest.raises(LeaseLost):
            write()
    state.release_lease(old)  # a release by a former holder does nothing either
    assert json.dumps(state.to_dict()) == before
    assert state.lease is not None and state.lease.fence == new


def test_next_item_counts_the_attempt_and_gives_the_item_as_it_was_before() -> None:
    state = chat(TASK_A)
    fence = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert fence is not None
    taken = state.next_item(fence, 5.0, 60.0, LIMITS)
    assert taken is not None and taken.attempts == 0  # not tried before: nothing to look up
    assert state.outbox[0].attempts == 1
    assert state.lease == Lease("w1", 65.0, fence)  # renewed for the item
    taken.data["changed"] = True
    assert state.outbox[0].data == {}  # a copy


def test_an_item_whose_outcome_is_unknown_waits_before_anyone_tries_it_again() -> None:
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    fence = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert fence is not None
    mirror = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert mirror is not None
    state.item_failed(fence, mirror.id, "no answer", transient=True, retry_at=40.0, limits=LIMITS, now=10.0)
    assert state.next_item(fence, 10.0, 60.0, LIMITS) is None  # in order: nothing behind it either
    assert state.lease is None
    assert state.acquire_lease("w2", now=39.0, ttl=60.0) is None  # not due: no lease taken at all
    again = state.acquire_lease("w2", now=40.0, ttl=60.0)
    assert again is not None
    retried = state.next_item(again, 40.0, 60.0, LIMITS)
    assert retried is not None and retried.id == mirror.id
    assert (retried.attempts, retried.failed, retried.error) == (1, 1, "no answer")  # look it up first


def test_a_refused_item_fails_that_step_and_the_rest_goes_on() -> None:
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    taken = work_off(state)
    assert len(taken) == 2 and state.lease is None
    state.notice("k2", NoticeType.LEFT)
    fence = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert fence is not None
    item = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert item is not None
    state.item_refused(fence, item.id, "403 forbidden", closed_or_gone=False, retry_at=9.0)
    assert state.outbox == []
    assert state.failures == [{"item": item.id, "reason": "403 forbidden"}]
    assert state.next_item(fence, 0.0, 60.0, LIMITS) is None and state.lease is None


def test_a_poison_item_is_given_up_as_a_dead_letter_and_the_rest_goes_on() -> None:
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    mirror_id = state.outbox[0].id
    for attempt in range(LIMITS.max_attempts):
        fence = state.acquire_lease("w1", now=float(attempt), ttl=60.0)
        assert fence is not None
        item = state.next_item(fence, float(attempt), 60.0, LIMITS)
        assert item is not None and item.id == mirror_id
        state.item_failed(
            fence,
            item.id,
            "TypeError: boom",
            transient=False,
            retry_at=0.0,
            limits=LIMITS,
            now=float(attempt),
        )
        if attempt < LIMITS.max_attempts - 1:
            state.release_lease(fence)
    assert [i.id for i in state.outbox] == ["2:k1"]
    (given_up,) = state.given_up
    assert given_up["item"].id == mirror_id and given_up["error"] == "TypeError: boom"
    assert given_up["skipped"] is False
    assert state.failures[-1] == {"item": mirror_id, "reason": "given up: TypeError: boom"}
    # Transient failures have their own, larger allowance.
    state.given_up.clear()
    fence = state.lease.fence if state.lease else state.acquire_lease("w1", 10.0, 60.0)
    assert fence is not None
    for _ in range(LIMITS.max_transient + 1):
        item = state.next_item(fence, 10.0, 60.0, LIMITS)
        assert item is not None
        state.item_failed(fence, item.id, "500", transient=True, retry_at=0.0, limits=LIMITS, now=10.0)
    assert state.outbox == [] and len(state.given_up) == 1


def test_attempts_that_never_finished_count_toward_giving_up() -> None:
    """A worker killed mid-item leaves an attempt begun and never recorded: after enough of them
    (it may be what kills the worker) the item is given up."""
    state = chat(TASK_A)
    for n in range(LIMITS.max_attempts):
        fence = state.acquire_lease(f"w{n}", now=100.0 * n, ttl=60.0)
        assert fence is not None
        assert state.next_item(fence, 100.0 * n, 60.0, LIMITS) is not None
    fence = state.acquire_lease("last", now=1000.0, ttl=60.0)
    assert fence is not None
    assert state.next_item(fence, 1000.0, 60.0, LIMITS) is None
    assert state.given_up[0]["error"] == "no attempt finished (the worker was lost)"


def test_a_requeue_given_up_releases_its_hold() -> None:
    state = chat(TASK_A)
    state.open_hold("requeue:TR1", "requeue", now=0.0)
    state._queue(OutboxKind.REQUEUE, "requeue:TR1", {"hold": "requeue:TR1", "from_task": TASK_A})
    fence = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert fence is not None
    mirror = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert mirror is not None
    state.item_done(fence, mirror.id)
    item = state.next_item(fence, 0.0, 60.0, LIMITS)
    assert item is not None and item.kind == OutboxKind.REQUEUE
    state.item_refused(fence, item.id, "400 bad workflow", closed_or_gone=False, retry_at=0.0)
    assert state.holds["requeue:TR1"].state == "failed"


def test_a_dead_letter_retried_goes_back_in_line_before_the_end() -> None:
    state = chat(TASK_A)
    state.notice("k1", NoticeType.JOINED)
    dead = state.outbox.pop(1)
    dead.attempts, dead.error = 5, "boom"
    state.close(TASK_A, CloseReason.COMPLETED)
    assert state.requeue_given_up(dead) is True
    assert state.requeue_given_up(dead) is False  # once
    kinds = [(i.kind, i.attempts, i.error) for i in state.outbox]
    assert kinds[-2:] == [(OutboxKind.NOTICE, 0, None), (OutboxKind.END, 0, None)]


def test_release_lease_only_by_its_holder() -> None:
    state = chat(TASK_A)
    fence = state.acquire_lease("w1", now=0.0, ttl=60.0)
    assert fence is not None
    state.release_lease(fence + 1)
    assert state.lease is not None
    state.release_lease(fence)
    assert state.lease is None
    assert len(state.outbox) == 1


# ---- a decided end completes (rule 9) ------------------------------------------------------------


def ending_chat() -> tuple[ConversationState, int]:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED, now=50.0)
    fence = state.acquire_lease("w1", now=60.0, ttl=60.0)
    assert fence is not None
    while (item := state.next_item(fence, 60.0, 60.0, LIMITS)) is not None and item.kind != OutboxKind.END:
        state.item_done(fence, item.id)
    assert item is not None and end_step(item) is EndStep.CHECK
    return state, fence


def the_end(state: ConversationState) -> OutboxItem:
    return items(state, OutboxKind.END)[0]


def test_the_end_goes_check_notice_close_and_remembers_when_it_was_decided() -> None:
    state, fence = ending_chat()
    assert state.ending_since == 50.0
    assert state.end_checked(fence, the_end(state).id, []) is True
    assert state.ended == "ended" and end_step(the_end(state)) is EndStep.NOTICE
    state.item_done(fence, the_end(state).id)
    assert end_step(the_end(state)) is EndStep.CLOSE and the_end(state).attempts == 0
    state.item_done(fence, the_end(state).id)
    assert state.outbox == []


def test_a_refused_check_is_skipped_and_the_end_goes_on() -> None:
    """Defect 2: a 401/403 on TaskRouter's check used to leave the chat `ending` for good."""
    state, fence = ending_chat()
    state.item_refused(fence, the_end(state).id, "Twilio answered 403", closed_or_gone=False, retry_at=61.0)
    assert state.ended == "ended"
    assert end_step(the_end(state)) is EndStep.NOTICE
    assert state.given_up[0]["skipped"] is True
    assert state.failures[-1] == {"item": the_end(state).id, "reason": "Twilio answered 403"}


def test_a_refused_notice_is_skipped_and_the_chat_is_still_closed() -> None:
    state, fence = ending_chat()
    state.end_checked(fence, the_end(state).id, [])
    state.next_item(fence, 61.0, 60.0, LIMITS)
    state.item_refused(fence, the_end(state).id, "Twilio answered 400", closed_or_gone=False, retry_at=61.0)
    assert end_step(the_end(state)) is EndStep.CLOSE


def test_a_refused_close_is_tried_again_until_twilio_says_closed_or_gone() -> None:
    state, fence = ending_chat()
    end_id = the_end(state).id
    state.end_checked(fence, end_id, [])
    state.item_done(fence, end_id)
    for n in range(LIMITS.max_attempts * 3):
        assert state.next_item(fence, 100.0 + n, 60.0, LIMITS) is not None
        state.item_refused(fence, end_id, "Twilio answered 403", closed_or_gone=False, retry_at=100.0 + n)
        assert the_end(state).not_before == 100.0 + n
    for _ in range(LIMITS.max_transient * 3):
        assert state.next_item(fence, 200.0, 60.0, LIMITS) is not None
        state.item_failed(fence, end_id, "503", transient=True, retry_at=0.0, limits=LIMITS, now=200.0)
    assert end_step(the_end(state)) is EndStep.CLOSE  # never given up
    assert state.next_item(fence, 300.0, 60.0, LIMITS) is not None
    state.item_refused(fence, end_id, "Twilio answered 400 (50377)", closed_or_gone=True, retry_at=0.0)
    assert state.outbox == []


def test_a_close_that_keeps_failing_unexpectedly_is_tried_without_the_attributes() -> None:
    """The close usually writes the final `associatedTasks` in the same call; when that is what
    keeps failing (another app's attributes we cannot merge), the close goes on without it."""
    state, fence = ending_chat()
    end_id = the_end(state).id
    state.end_checked(fence, end_id, [])
    state.item_done(fence, end_id)
    for _ in range(LIMITS.max_attempts):
        assert state.next_item(fence, 100.0, 60.0, LIMITS) is not None
        state.item_failed(fence, end_id, "TypeError", transient=False, retry_at=0.0, limits=LIMITS, now=100.0)
    assert the_end(state).data.get("bare") is True and end_step(the_end(state)) is EndStep.CLOSE
    assert state.given_up[-1]["skipped"] is True


def test_a_spent_check_or_notice_is_skipped_not_dead_lettered() -> None:
    state, fence = ending_chat()
    end_id = the_end(state).id
    for _ in range(LIMITS.max_attempts - 1):
        state.item_failed(fence, end_id, "KeyError", transient=False, retry_at=0.0, limits=LIMITS, now=60.0)
        assert state.next_item(fence, 60.0, 60.0, LIMITS) is not None
    state.item_failed(fence, end_id, "KeyError", transient=False, retry_at=0.0, limits=LIMITS, now=60.0)
    assert state.ended == "ended" and end_step(the_end(state)) is EndStep.NOTICE
    assert all(entry["skipped"] for entry in state.given_up)


def test_an_end_left_without_its_item_is_queued_again() -> None:
    """A chat the old drainer left `ending` after a refused check: reconciliation resumes it."""
    state, fence = ending_chat()
    state.outbox.clear()  # what the old code did with an end whose check Twilio refused
    state.release_lease(fence)
    assert state.resume_end() is True
    assert state.resume_end() is False
    assert [end_step(i) for i in state.outbox] == [EndStep.CHECK]
    work_off(state)
    assert state.ended == "ended" and state.outbox == []


def test_an_end_stored_before_its_steps_reads_as_confirmed() -> None:
    assert end_step(OutboxItem("9:end", OutboxKind.END, {"confirmed": True})) is EndStep.NOTICE
    assert end_step(OutboxItem("9:end", OutboxKind.END, {})) is EndStep.CHECK


def test_outbox_ids_are_unique_and_in_order() -> None:
    state = chat(TASK_A)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_A, CloseReason.COMPLETED)
    ids = [i.id for i in state.outbox]
    assert len(set(ids)) == len(ids)
    seqs = [int(i.split(":", 1)[0]) for i in ids]
    assert seqs == sorted(seqs)


def test_the_mirror_is_queued_once_while_pending() -> None:
    state = chat(TASK_A, TASK_B, TASK_C)
    state.close(TASK_A, CloseReason.COMPLETED)
    assert len(items(state, OutboxKind.MIRROR)) == 1
    done(state, items(state, OutboxKind.MIRROR)[0].id)
    state.close(TASK_B, CloseReason.COMPLETED)
    assert len(items(state, OutboxKind.MIRROR)) == 1


# ---- serialization --------------------------------------------------------------------------------


def rich_state() -> ConversationState:
    state = ConversationState(sid=CH)
    state.track(TASK_A, interaction=(KD, UO), language="th")
    state.accepted(*ALICE, TASK_A)
    state.offered(*CAROL, TASK_A)
    state.open_hold("TR1", "transfer", now=12.5)
    state.hold_created("TR1", TASK_B, transfer=transfer(mode="COLD"))
    state.open_hold("TR2", "transfer", now=13.0)
    state.close(TASK_A, CloseReason.WRAPUP)
    state.close(TASK_B, CloseReason.TIMED_OUT, now=20.0)
    state.hold_failed("TR2", "refused")
    fence = state.acquire_lease("w1", now=30.0, ttl=60.0)
    assert fence is not None
    first = state.next_item(fence, 30.0, 60.0, LIMITS)
    assert first is not None
    state.item_failed(fence, first.id, "no answer", transient=True, retry_at=45.0, limits=LIMITS, now=30.0)
    state.item_refused(fence, state.outbox[1].id, "boom", closed_or_gone=False, retry_at=30.0)
    return state


def test_to_dict_and_from_dict_round_trip_through_json() -> None:
    state = rich_state()
    data = json.loads(json.dumps(state.to_dict()))
    again = ConversationState.from_dict(data)
    assert again == state
    assert again.to_dict() == data
    assert isinstance(again.tasks[TASK_B].transfer, TransferInfo)
    assert isinstance(again.members[0], Member)
    assert isinstance(again.holds["TR1"], Hold)
    assert isinstance(again.outbox[0], OutboxItem)
    assert isinstance(again.lease, Lease)
    assert again.interaction == [KD, UO]
    assert again.language == "th"


def test_a_restored_state_goes_on_where_it_stopped() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    state.close(TASK_B, CloseReason.COMPLETED)
    again = ConversationState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.close(TASK_B, CloseReason.COMPLETED) is False
    assert again.accepted(*ALICE, TASK_A) is False
    again.close(TASK_A, CloseReason.COMPLETED)
    end_now(again)
    assert again.confirm_end([]) is False


def test_the_stored_form_leaves_out_every_field_equal_to_its_default() -> None:
    state = chat(TASK_A, TASK_B)
    state.accepted(*ALICE, TASK_A)
    state.offered(*BOB, TASK_B)
    for item in notice_items(state):
        done(state, item.id)
    data = state.to_dict()
    assert data["tasks"] == {TASK_A: {"assigned": True}, TASK_B: {}}  # in flight, no reason, no transfer
    assert data["members"][1] == {"identity": "bob", "worker_sid": BOB[1], "name": "Bob", "task_sid": TASK_B}
    left_out = {
        "holds",
        "ended",
        "end_reason",
        "customer_left",
        "interaction",
        "language",
        "lease",
        "failures",
    }
    assert not left_out & set(data)
    assert data["outbox"] == [{"id": "1:mirror", "kind": "mirror"}]  # no data, no attempts
    text = json.dumps(data)
    assert "null" not in text and "false" not in text and '"attempts": 0' not in text
    assert ConversationState.from_dict(json.loads(text)) == state


def test_the_stored_form_keeps_what_differs_from_a_default_whole() -> None:
    state = rich_state()
    data = state.to_dict()
    assert data["tasks"][TASK_A] == {"status": CLOSED, "reason": "wrapup", "assigned": True}
    assert data["holds"]["TR1"] == {
        "kind": "transfer",
        "opened_at": 12.5,
        "state": "created",
        "task_sid": TASK_B,
    }
    assert data["lease"] == {"owner": "w1", "until": 90.0, "fence": 1}
    assert data["outbox"][0] == {
        "id": state.outbox[0].id,
        "kind": "mirror",
        "attempts": 1,
        "failed": 1,
        "not_before": 45.0,
        "error": "no answer",
    }
    assert data["failures"] == state.failures and data["failures"][0] == {"hold": "TR2", "reason": "refused"}
    # An outbox item's data is the effect's payload: copied as it is, never trimmed.
    state.outbox[0].data["empty"] = None
    assert state.to_dict()["outbox"][0]["data"]["empty"] is None
    assert state.to_dict()["outbox"][0]["data"] is not state.outbox[0].data


def test_a_state_stored_in_the_older_full_format_reads_the_same() -> None:
    """States written before the compact form (every field, nulls and all) are still read."""
    for state in (rich_state(), chat(TASK_A), ConversationState(sid=CH)):
        full = json.loads(json.dumps(asdict(state)))
        assert "customer_left" in full and "seq" in full
        again = ConversationState.from_dict(full)
        assert again == state
        assert again.to_dict() == state.to_dict()


def test_from_dict_accepts_a_minimal_state() -> None:
    state = ConversationState.from_dict({"sid": CH})
    assert state == ConversationState(sid=CH)
    assert state.tasks == {} and state.lease is None


def test_a_tracked_task_default_is_in_flight_and_unassigned() -> None:
    assert TrackedTask() == TrackedTask(status=INFLIGHT, reason=None, assigned=False, transfer=None)
