"""The drainer (`worker.handlers.outbox`) on the real store, against a fake Twilio that refuses,
fails or holds data another app wrote (issue 12, defects 1-3; CONTRACT §6 rules 8, 9, 11)."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest

from tests.support.drainers import RecordedQueue, deps_for
from tests.support.fake_twilio import FakeTwilio
from tests.support.interleave import SimClock
from tests.support.settings import sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.dead_letters import DEAD_LETTERS_KEY, DeadLetters
from worker.adapters.task_queue import DRAIN_OUTBOX, RETRY_OUTBOX_ITEM
from worker.adapters.twilio_gateway import NotFound, TwilioRejected
from worker.adapters.worker_metrics import (
    DEAD_LETTERS_KEY as DEAD_LETTER_COUNTS,
)
from worker.adapters.worker_metrics import (
    END_STEPS_SKIPPED_KEY,
    OUTBOX_DEPTH_KEY,
    STEP_FAILURES_KEY,
    UNEXPECTED_KEY,
)
from worker.domain.model import CloseReason, ConversationState, EndStep, OutboxItem, OutboxKind, end_step
from worker.handlers.deps import Deps
from worker.handlers.outbox import drain, lease_terms, retry_dead_item

CH = sid("CH", 0xC)
TASK_A, TASK_B = sid("WT", 0xA), sid("WT", 0xB)
MAX_ATTEMPTS = 3


class Chat:
    def __init__(self, **settings: Any) -> None:
        self.client = fakeredis.FakeRedis()
        self.clock = SimClock()
        self.twilio = FakeTwilio()
        self.queue = RecordedQueue()
        self.store = ConversationStore(self.client, ttl_after_end=3600)
        self.deps: Deps = deps_for(
            "w1",
            store=self.store,
            twilio=self.twilio,
            clock=self.clock,
            queue=self.queue,
            outbox_max_attempts=MAX_ATTEMPTS,
            **settings,
        )
        self.twilio.conversation(CH)

    def event(self, change: Any) -> ConversationState:
        _, state = self.store.transition(CH, change)
        assert state is not None
        drain(self.deps, CH, after=state)
        return self.state

    @property
    def state(self) -> ConversationState:
        state = self.store.load(CH)
        assert state is not None
        return state

    def agent_finishes(self) -> ConversationState:
        self.event(lambda s: s.track(TASK_A))
        self.event(lambda s: s.accepted("alice", sid("WK", 1), "Alice", TASK_A))
        self.twilio.add_task(TASK_A, "completed", conversationSid=CH)
        return self.event(lambda s: s.close(TASK_A, CloseReason.COMPLETED, now=self.clock()))

    def redrive_when_due(self) -> None:
        """What the `DRAIN_OUTBOX` job sent by the drainer (or reconciliation) does, when due."""
        state = self.state
        if state.outbox:
            self.clock.now = max(self.clock.now, state.outbox[0].not_before)
        drain(self.deps, CH)

    def counts(self, key: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(key).items()}


def test_a_drainer_ends_a_chat_check_notice_close_and_counts_the_time_to_close() -> None:
    chat = Chat()
    state = chat.agent_finishes()
    assert chat.twilio.notices(CH) == [f"joined:{TASK_A}:alice", f"left:{TASK_A}:alice", "chat-ended"]
    assert chat.twilio.conversation(CH).state == "closed"
    assert chat.twilio.conversation(CH).attributes["associatedTasks"] == {TASK_A: "completed"}
    assert state.ended == "ended" and state.outbox == [] and state.lease is None
    assert chat.client.hget("cft:metrics:close-seconds", "count") == b"1"
    assert chat.client.hlen(OUTBOX_DEPTH_KEY) == 0


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_taskrouter_check_is_skipped_and_the_chat_still_closes(status: int) -> None:
    """Defect 2: a 4xx on the check (a key rotation) left the chat `ending` forever."""
    chat = Chat()
    chat.twilio.refuse["inflight_tasks_of"] = TwilioRejected(status, 20003, "Authenticate")
    state = chat.agent_finishes()
    assert chat.twilio.conversation(CH).state == "closed"
    assert chat.twilio.notices(CH)[-1] == "chat-ended"
    assert state.ended == "ended" and state.outbox == []
    assert chat.counts(STEP_FAILURES_KEY) == {f"end-check|{status}": 1}
    assert chat.counts(END_STEPS_SKIPPED_KEY) == {"check": 1}
    assert any(f"Twilio answered {status}" in failure["reason"] for failure in state.failures)


def test_a_refused_chat_ended_notice_is_skipped_and_the_chat_still_closes() -> None:
    chat = Chat()
    chat.event(lambda s: s.track(TASK_A))
    chat.twilio.refuse["post_message"] = TwilioRejected(400, 50999, "refused")
    state = chat.event(lambda s: s.close(TASK_A, CloseReason.COMPLETED))
    assert chat.twilio.conversation(CH).state == "closed"
    assert state.outbox == []
    assert chat.counts(END_STEPS_SKIPPED_KEY) == {"notice": 1}
    assert chat.counts(STEP_FAILURES_KEY) == {"end-notice|400": 1}


def test_a_refused_close_is_tried_again_until_it_succeeds() -> None:
    chat = Chat()
    chat.twilio.refuse["close_conversation"] = TwilioRejected(403, 20003, "Authenticate")
    state = chat.agent_finishes()
    (end,) = state.outbox
    assert end_step(end) is EndStep.CLOSE and end.not_before > chat.clock()
    assert chat.twilio.conversation(CH).state == "active"
    assert state.ended == "ended"
    # The drainer asks for a drain when the close is due again (within what the broker can hold).
    assert chat.queue.sent[-1][:2] == (DRAIN_OUTBOX, {"conversationSid": CH})
    for _ in range(2 * MAX_ATTEMPTS):  # a close is never given up, whatever Twilio says meanwhile
        chat.redrive_when_due()
    assert chat.state.outbox and chat.client.llen(DEAD_LETTERS_KEY) == 0
    del chat.twilio.refuse["close_conversation"]
    chat.redrive_when_due()
    assert chat.twilio.conversation(CH).state == "closed"
    assert chat.state.outbox == []
    assert chat.twilio.notices(CH).count("chat-ended") == 1


@pytest.mark.parametrize(
    "answer",
    [NotFound(404, 20404, "gone"), TwilioRejected(400, 50377, "Can't update a closed conversation")],
    ids=["gone", "already-closed"],
)
def test_a_close_twilio_answers_closed_or_gone_is_done(answer: TwilioRejected) -> None:
    chat = Chat()
    chat.twilio.refuse["close_conversation"] = answer
    state = chat.agent_finishes()
    assert state.outbox == [] and state.ended == "ended"


def test_a_poison_item_is_dead_lettered_the_rest_goes_on_and_the_chat_closes() -> None:
    """Defect 3: `associatedTasks` that another app stored as a list made the mirror raise
    TypeError on every drain, and everything behind it — the end included — waited for good."""
    chat = Chat()
    chat.twilio.conversation(CH).attributes = {"associatedTasks": ["not", "an", "object"]}
    chat.event(lambda s: s.track(TASK_A))
    chat.event(lambda s: s.accepted("alice", sid("WK", 1), "Alice", TASK_A))
    assert chat.state.outbox[0].kind == OutboxKind.MIRROR
    assert chat.twilio.notices(CH) == []  # behind the mirror, for now
    for _ in range(MAX_ATTEMPTS):
        chat.redrive_when_due()
    assert chat.twilio.notices(CH) == [f"joined:{TASK_A}:alice"]  # the rest went on
    (letter,) = DeadLetters(chat.client).list()
    assert letter["task"] == RETRY_OUTBOX_ITEM
    assert letter["payload"]["conversationSid"] == CH
    assert letter["payload"]["item"]["kind"] == "mirror"
    assert letter["error"].startswith("TypeError")
    assert chat.counts(DEAD_LETTER_COUNTS) == {"outbox-mirror": 1}
    assert chat.counts(UNEXPECTED_KEY) == {"outbox-mirror|TypeError": MAX_ATTEMPTS}

    # The end writes the attributes with the close: that fails the same way, and the close then
    # goes on without them (never given up, never a dead letter).
    chat.twilio.add_task(TASK_A, "completed", conversationSid=CH)
    chat.event(lambda s: s.close(TASK_A, CloseReason.COMPLETED))
    for _ in range(MAX_ATTEMPTS + 1):
        chat.redrive_when_due()
    assert chat.twilio.conversation(CH).state == "closed"
    assert chat.twilio.notices(CH)[-1] == "chat-ended"
    assert chat.state.outbox == []
    assert chat.client.llen(DEAD_LETTERS_KEY) == 1

    # Retried from the dead letters: back in the outbox, tried again (and refused by the closed chat).
    item = OutboxItem(**letter["payload"]["item"])
    assert retry_dead_item(chat.deps, CH, item) == "requeued"


def test_a_notice_whose_post_got_no_answer_is_looked_up_only_after_the_settle_window() -> None:
    """Twilio answering after we gave up: the post lands after our timeout; a lookup made at
    once would miss it and post the notice again."""
    chat = Chat(outbox_settle_seconds=30.0)
    landed_late: list[Any] = []

    def no_answer(name: str, effect: Any) -> Any:
        if name == "post_message" and not landed_late:
            landed_late.append(effect)  # it will land, but we hear nothing
            from worker.adapters.http_client import TwilioTransient

            raise TwilioTransient(None, None)
        return effect()

    chat.twilio.network = no_answer
    chat.event(lambda s: s.track(TASK_A))
    chat.event(lambda s: s.accepted("alice", sid("WK", 1), "Alice", TASK_A))
    notice = next(i for i in chat.state.outbox if i.kind == OutboxKind.NOTICE)
    assert notice.not_before >= chat.clock() + 30.0
    drain(chat.deps, CH)  # another event's drain, at once: the notice is not due yet
    assert chat.twilio.notices(CH) == []
    landed_late[0]()  # Twilio applies it, late
    chat.redrive_when_due()
    assert chat.twilio.notices(CH) == [f"joined:{TASK_A}:alice"]
    assert chat.state.outbox == []


def test_the_lease_is_renewed_before_a_call_that_would_outlive_it_and_a_lost_one_stops_the_drainer() -> None:
    chat = Chat()
    terms = lease_terms(chat.deps)
    tasks = [sid("WT", 0x100 + n) for n in range(6)]
    renewals: list[float] = []

    def slow(name: str, effect: Any) -> Any:
        chat.clock.advance(terms.http_timeout)  # every call takes the whole timeout
        state = chat.store.load(CH)
        assert state is not None and state.lease is not None
        renewals.append(state.lease.until)
        assert chat.clock() <= state.lease.until  # no call outlives the lease it started under
        return effect()

    for task in tasks:
        chat.twilio.add_task(task, "pending", conversationSid=CH)
    chat.event(lambda s: [s.track(t) for t in tasks])
    chat.twilio.network = slow
    chat.event(lambda s: s.customer_closed())
    assert all(chat.twilio.tasks[t].status == "canceled" for t in tasks)
    assert len(set(renewals)) > 1  # renewed within the item

    # Taken over mid-item: the old drainer writes nothing more and stops.
    chat2 = Chat()
    for task in tasks:
        chat2.twilio.add_task(task, "pending", conversationSid=CH)
    chat2.event(lambda s: [s.track(t) for t in tasks])
    calls = 0

    def taken_over(name: str, effect: Any) -> Any:
        nonlocal calls
        calls += 1
        chat2.clock.advance(terms.http_timeout)
        if calls == 2:  # the lease ran out under a stalled worker; someone else took it
            raw = json.loads(chat2.client.get(chat2.store.key(CH)))
            raw["lease"] = {"owner": "w2", "until": chat2.clock() + 1000, "fence": raw["lease"]["fence"] + 1}
            chat2.client.set(chat2.store.key(CH), json.dumps(raw))
        return effect()

    chat2.twilio.network = taken_over
    chat2.event(lambda s: s.customer_closed())
    assert calls < len(tasks) + 1
    state = chat2.state
    assert state.lease is not None and state.lease.owner == "w2"
    assert [i.kind for i in state.outbox] == [OutboxKind.CANCEL_TASKS]  # left for its new holder
    assert chat2.counts("cft:metrics:counters") == {"outbox_leases_lost": 1}
    assert TASK_B not in state.tasks
