"""The Redis store of conversation states, on fakeredis: what is written, indexed and expired.

The concurrency proof runs against a real Redis server: tests/integration/test_store_concurrency.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import fakeredis
import pytest

from tests.support.outbox import work_off
from tests.support.settings import sid
from worker.adapters import redis_json
from worker.adapters.conversation_store import ConversationStore
from worker.domain.model import CloseReason, ConversationState, OutboxKind, RetryLimits

CH, CH2 = sid("CH", 1), sid("CH", 2)
TASK_A, TASK_B, TASK_C = sid("WT", 0xA), sid("WT", 0xB), sid("WT", 0xC)
TTL = 3600


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def client(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def store(client: fakeredis.FakeRedis) -> ConversationStore:
    return ConversationStore(client, ttl_after_end=TTL)


def active(store: ConversationStore) -> list[str]:
    return [conversation for conversation, _ in store.active()]


def end_chat(store: ConversationStore, conversation: str) -> ConversationState:
    """Close every in-flight task, then do what the drainer does: work the outbox, end once."""
    store.transition(conversation, lambda s: [s.close(t, CloseReason.COMPLETED) for t in s.inflight()])

    _, state = store.transition(conversation, work_off, create=False)
    assert state is not None and state.ended == "ended" and state.outbox == []
    return state


def test_a_transition_creates_the_chat_and_returns_the_result_and_the_stored_state(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    result, state = store.transition(CH, lambda s: s.track(TASK_A, language="es-MX"))
    assert result is True
    assert state is not None and state.sid == CH and state.inflight() == [TASK_A]
    raw = client.get(f"cft:conv:{CH}")
    assert raw is not None
    assert json.loads(raw) == state.to_dict()
    assert store.load(CH) == state


def test_the_stored_state_round_trips_everything(store: ConversationStore) -> None:
    def busy(state: ConversationState) -> None:
        state.track(TASK_A, interaction=(sid("KD", 1), sid("UO", 1)))
        state.accepted("alice", sid("WK", 1), "Alice", TASK_A)
        state.open_hold("TR1", "transfer", now=5.0)
        state.close(TASK_B, CloseReason.TIMED_OUT, now=6.0)
        fence = state.acquire_lease("w1", now=7.0, ttl=60.0)
        assert fence is not None
        state.next_item(fence, 7.0, 60.0, RetryLimits())

    _, written = store.transition(CH, busy)
    loaded = store.load(CH)
    assert loaded == written
    assert loaded is not None and loaded.to_dict() == written.to_dict()  # type: ignore[union-attr]
    assert loaded.interaction == [sid("KD", 1), sid("UO", 1)]
    assert loaded.lease is not None and loaded.lease.owner == "w1"
    assert loaded.outbox[0].attempts == 1


def test_the_stored_state_leaves_out_its_defaults(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    _, state = store.transition(CH, lambda s: s.track(TASK_A))
    raw = client.get(store.key(CH))
    assert raw is not None
    assert json.loads(raw) == {
        "sid": CH,
        "tasks": {TASK_A: {}},  # in flight, unassigned: every field its default
        "outbox": [{"id": "1:mirror", "kind": "mirror"}],
        "seq": 1,
    }
    assert b" " not in raw and b"null" not in raw
    assert store.load(CH) == state


def test_a_state_stored_in_the_older_full_format_is_read_and_rewritten_compact(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    """A chat already in Redis when the service is upgraded was written with every field."""
    _, state = store.transition(
        CH, lambda s: (s.track(TASK_A), s.accepted("alice", sid("WK", 1), "Alice", TASK_A))
    )
    assert state is not None
    full = json.dumps(asdict(state), separators=(",", ":"))
    client.set(store.key(CH), full)  # as the version before wrote it
    assert "customer_left" in full and store.load(CH) == state
    # A transition that changes nothing still rewrites it, in the compact form.
    result, again = store.transition(CH, lambda s: s.track(TASK_A))
    assert result is False and again == state
    assert json.loads(client.get(store.key(CH)) or "") == state.to_dict()
    client.set(store.key(CH), full)
    result, after = store.transition(CH, lambda s: s.close(TASK_A, CloseReason.COMPLETED))
    assert result is True and after is not None and after.ended == "ending"
    assert json.loads(client.get(store.key(CH)) or "") == after.to_dict()
    assert store.load(CH) == after


def test_create_false_never_creates_a_chat(store: ConversationStore, client: fakeredis.FakeRedis) -> None:
    calls: list[ConversationState] = []
    result, state = store.transition(CH, lambda s: calls.append(s) or s.track(TASK_A), create=False)
    assert (result, state) == (None, None)
    assert calls == []
    assert client.keys("*") == []
    assert store.load(CH) is None
    assert store.conversation_of_task(TASK_A) is None


def test_create_false_applies_to_an_existing_chat(store: ConversationStore) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    result, state = store.transition(CH, lambda s: s.track(TASK_B), create=False)
    assert result is True
    assert state is not None and sorted(state.inflight()) == [TASK_A, TASK_B]


def test_a_change_that_records_nothing_does_not_create_a_chat(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    result, state = store.transition(CH, lambda s: s.participant_added("somebody"))
    assert result is False
    assert state is not None and state.tasks == {}
    assert client.keys("*") == []
    assert active(store) == []


def test_a_change_that_changes_nothing_writes_nothing(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    before = client.get(store.key(CH))
    client.zrem(store.active_key, CH)  # a write would put it back
    result, state = store.transition(CH, lambda s: s.track(TASK_A))
    assert result is False
    assert state is not None and state.inflight() == [TASK_A]
    assert client.get(store.key(CH)) == before
    assert active(store) == []
    store.transition(CH, lambda s: s.track(TASK_B))
    assert active(store) == [CH]


def test_every_tracked_task_is_indexed_to_its_chat(store: ConversationStore) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    store.transition(CH2, lambda s: s.close(TASK_B, CloseReason.COMPLETED))  # closed before created
    store.transition(CH2, lambda s: s.confirm_end([TASK_C]))  # TaskRouter reported C in flight
    assert store.conversation_of_task(TASK_A) == CH
    assert store.conversation_of_task(TASK_B) == CH2
    assert store.conversation_of_task(TASK_C) == CH2
    assert store.conversation_of_task(sid("WT", 0xF)) is None


def test_chats_in_flight_are_active_and_an_ended_chat_leaves_the_index(store: ConversationStore) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    store.transition(CH2, lambda s: s.track(TASK_B))
    assert sorted(active(store)) == [CH, CH2]
    end_chat(store, CH)
    assert active(store) == [CH2]


def test_an_ended_chat_with_work_left_stays_active_without_expiry(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    store.transition(CH, lambda s: s.close(TASK_A, CloseReason.COMPLETED))
    confirmed, state = store.transition(CH, lambda s: s.confirm_end([]))
    assert confirmed is True
    assert state is not None and state.ended == "ended" and state.outbox  # END still to be finished
    assert active(store) == [CH]
    assert client.ttl(store.key(CH)) == -1
    assert client.ttl(store.task_key(TASK_A)) == -1


def test_an_ended_chat_expires_with_its_task_index(
    store: ConversationStore, client: fakeredis.FakeRedis
) -> None:
    store.transition(CH, lambda s: (s.track(TASK_A), s.track(TASK_B)))
    assert client.ttl(store.key(CH)) == -1
    end_chat(store, CH)
    for key in (store.key(CH), store.task_key(TASK_A), store.task_key(TASK_B)):
        assert 0 < client.ttl(key) <= TTL, key
    # A late event keeps the chat ended; its stray task is to be canceled in TaskRouter first…
    store.transition(CH, lambda s: s.track(TASK_C))
    state = store.load(CH)
    assert state is not None and state.ended == "ended" and state.inflight() == []
    assert [(i.kind, i.data) for i in state.outbox] == [("cancel-tasks", {"tasks": [TASK_C]})]
    assert active(store) == [CH]
    # …and once that is done, what it added expires too.
    store.transition(CH, work_off)
    assert 0 < client.ttl(store.task_key(TASK_C)) <= TTL
    assert 0 < client.ttl(store.key(CH)) <= TTL
    assert active(store) == []


def test_an_expired_chat_is_gone(store: ConversationStore, client: fakeredis.FakeRedis) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    end_chat(store, CH)
    for key in (store.key(CH), store.task_key(TASK_A)):
        client.expire(key, 0)  # what the TTL does when its time comes
    assert store.load(CH) is None
    assert store.conversation_of_task(TASK_A) is None


def test_the_prefix_names_every_key(client: fakeredis.FakeRedis) -> None:
    store = ConversationStore(client, ttl_after_end=TTL, prefix="other:")
    store.transition(CH, lambda s: s.track(TASK_A))
    assert sorted(k.decode() for k in client.keys("*")) == sorted(
        [f"other:conv:{CH}", f"other:task:{TASK_A}", "other:active", "other:metrics:outbox-depth"]
    )


def test_mark_checked_moves_an_active_chat_back_and_never_revives_an_ended_one(
    store: ConversationStore,
) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    store.transition(CH2, lambda s: s.track(TASK_B))
    store.mark_checked(CH, when=10**12)
    assert active(store) == [CH2, CH]
    end_chat(store, CH2)
    store.mark_checked(CH2, when=1.0)
    assert active(store) == [CH]


def test_a_concurrent_write_makes_the_transition_start_again_from_the_new_state(
    store: ConversationStore, server: fakeredis.FakeServer
) -> None:
    store.transition(CH, lambda s: (s.track(TASK_A), s.track(TASK_B)))
    other = ConversationStore(fakeredis.FakeRedis(server=server), TTL)  # another worker
    seen: list[list[str]] = []

    def close_a(state: ConversationState) -> bool:
        seen.append(sorted(state.inflight()))
        if len(seen) == 1:  # another worker closes B between our read and our write
            other.transition(CH, lambda s: s.close(TASK_B, CloseReason.COMPLETED))
        return state.close(TASK_A, CloseReason.COMPLETED)

    result, state = store.transition(CH, close_a)
    assert result is True
    assert seen == [[TASK_A, TASK_B], [TASK_A]]
    assert state is not None and state.inflight() == [] and state.ended == "ending"
    stored = store.load(CH)
    assert stored is not None
    assert [i.kind for i in stored.outbox].count(OutboxKind.END) == 1


def test_endless_contention_gives_up_loudly(store: ConversationStore, server: fakeredis.FakeServer) -> None:
    store.transition(CH, lambda s: s.track(TASK_A))
    other = fakeredis.FakeRedis(server=server)
    attempts: list[int] = []

    def always_raced(state: ConversationState) -> None:
        attempts.append(1)
        other.set(store.key(CH), json.dumps(state.to_dict()))  # someone always writes first
        state.track(sid("WT", len(attempts)))

    with pytest.raises(redis_json.StoreContention, match="contention"):
        store.transition(CH, always_raced)
    assert len(attempts) == redis_json.MAX_ATTEMPTS
