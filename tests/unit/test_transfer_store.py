"""Transfer records as stored: compact while pending, only what GET /transfers answers once settled,
records written in the older full format still read, and how long each is kept (fakeredis)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.settings import sid
from worker.adapters.transfer_store import (
    RECORD_TTL_SECONDS,
    SETTLED_RECORD_TTL_SECONDS,
    Opened,
    OpenResult,
    TransferStore,
)
from worker.domain.transfer import PUBLIC_FIELDS, TransferRecord, TransferStatus

TRANSFER_ID = "0123456789abcdef0123456789abcdef"


def pending(**changes: object) -> TransferRecord:
    record = TransferRecord(
        id=TRANSFER_ID,
        task_sid=sid("WT", 1),
        target_sid=sid("WK", 2),
        mode="WARM",
        requested_by=sid("WK", 1),
        created_at=1_700_000_000.25,
    )
    return replace(record, **changes)


def created() -> TransferRecord:
    return pending(
        status=TransferStatus.CREATED,
        conversation_sid=sid("CH", 1),
        strategy="task",
        target_name="Bob",
        transfer_task_sid=sid("WT", 2),
        steps=["hold", "target", "create", "track", "original", "done"],
        attempts=1,
    )


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def store(client: fakeredis.FakeRedis) -> TransferStore:
    return TransferStore(client)


# ---- the encoding -------------------------------------------------------------------------------


def test_a_pending_record_leaves_out_its_defaults_and_reads_back_whole() -> None:
    record = pending(priority=0, steps=["hold"], attempts=2)
    data = json.loads(record.to_json())
    assert data == {
        "id": TRANSFER_ID,
        "task_sid": sid("WT", 1),
        "target_sid": sid("WK", 2),
        "mode": "WARM",
        "requested_by": sid("WK", 1),
        "created_at": 1_700_000_000.25,
        "priority": 0,  # not the default (None): kept
        "steps": ["hold"],
        "attempts": 2,
    }
    assert " " not in record.to_json()
    assert TransferRecord.from_json(record.to_json()) == record


def test_a_settled_record_keeps_only_what_get_transfers_answers() -> None:
    record = created()
    text = record.to_json()
    assert set(json.loads(text)) == {
        "id",
        "task_sid",
        "target_sid",
        "mode",
        "status",
        "conversation_sid",
        "strategy",
        "transfer_task_sid",
    }
    again = TransferRecord.from_json(text)
    assert again.public() == record.public()
    assert again.settled and again.status == TransferStatus.CREATED
    assert (again.requested_by, again.created_at, again.steps, again.target_name) == ("", 0.0, [], None)


def test_a_failed_record_keeps_its_reason() -> None:
    record = pending(status=TransferStatus.FAILED, reason="the task is pending", steps=["hold"])
    again = TransferRecord.from_json(record.to_json())
    assert again.public() == record.public()
    assert again.public()["reason"] == "the task is pending"


def test_public_answers_every_field_it_did_nulls_included() -> None:
    assert pending().public() == {
        "transferId": TRANSFER_ID,
        "status": "pending",
        "taskSid": sid("WT", 1),
        "targetSid": sid("WK", 2),
        "mode": "WARM",
        "transferTaskSid": None,
        "conversationSid": None,
        "strategy": None,
        "reason": None,
    }
    assert set(PUBLIC_FIELDS.values()) <= set(asdict(pending()))


@pytest.mark.parametrize("record", [pending(), pending(steps=["hold", "target"], attempts=3), created()])
def test_a_record_written_in_the_older_full_format_reads_the_same(record: TransferRecord) -> None:
    full = json.dumps(asdict(record), separators=(",", ":"))
    assert "requested_by" in full and "null" in full
    assert TransferRecord.from_json(full) == record


optional_text = st.none() | st.text(max_size=20)
records = st.builds(
    TransferRecord,
    id=st.text("0123456789abcdef", min_size=32, max_size=32),
    task_sid=st.just(sid("WT", 1)),
    target_sid=st.sampled_from([sid("WK", 2), sid("WQ", 3)]),
    mode=st.sampled_from(["WARM", "COLD"]),
    requested_by=st.text(max_size=34),
    created_at=st.floats(0, 2e9),
    priority=st.none() | st.integers(0, 2**31 - 1),
    timeout=st.none() | st.integers(1, 10**6),
    workflow_sid=st.none() | st.just(sid("WW", 4)),
    status=st.sampled_from([TransferStatus.PENDING, TransferStatus.CREATED, TransferStatus.FAILED]),
    reason=optional_text,
    conversation_sid=st.none() | st.just(sid("CH", 1)),
    strategy=st.sampled_from([None, "task", "invite"]),
    target_name=optional_text,
    transfer_task_sid=st.none() | st.just(sid("WT", 2)),
    steps=st.lists(st.sampled_from(["hold", "target", "create", "track", "original", "cold", "done"])),
    attempts=st.integers(0, 20),
)


@given(record=records)
def test_any_record_reads_back_from_its_stored_form(record: TransferRecord) -> None:
    again = TransferRecord.from_json(record.to_json())
    assert again.public() == record.public()
    if not record.settled:
        assert again == record  # the orchestration resumes from all of it
    assert TransferRecord.from_json(json.dumps(asdict(record))) == record


# ---- the store ----------------------------------------------------------------------------------


def test_a_pending_record_is_kept_a_week_and_a_settled_one_a_day(
    store: TransferStore, client: fakeredis.FakeRedis
) -> None:
    record = pending()
    assert store.create(record) is True
    assert store.create(record) is False  # created once
    key = store.key(TRANSFER_ID)
    assert SETTLED_RECORD_TTL_SECONDS < client.ttl(key) <= RECORD_TTL_SECONDS
    store.update(TRANSFER_ID, lambda r: setattr(r, "attempts", r.attempts + 1))
    assert SETTLED_RECORD_TTL_SECONDS < client.ttl(key) <= RECORD_TTL_SECONDS
    assert store.load(TRANSFER_ID) == pending(attempts=1)

    def settle(r: TransferRecord) -> None:
        r.status, r.transfer_task_sid, r.conversation_sid = TransferStatus.CREATED, sid("WT", 2), sid("CH", 1)
        r.steps.append("done")

    _, settled = store.update(TRANSFER_ID, settle)
    assert settled is not None and settled.steps == ["done"]  # the caller still sees all of it
    assert 0 < client.ttl(key) <= SETTLED_RECORD_TTL_SECONDS
    stored = store.load(TRANSFER_ID)
    assert stored is not None and stored.public() == settled.public()
    assert len(client.get(key) or b"") < len(json.dumps(asdict(settled), separators=(",", ":")))


def test_a_record_stored_in_the_older_full_format_is_read_and_updated(
    store: TransferStore, client: fakeredis.FakeRedis
) -> None:
    record = pending(steps=["hold"], attempts=1, conversation_sid=sid("CH", 1))
    client.set(store.key(TRANSFER_ID), json.dumps(asdict(record), separators=(",", ":")), ex=60)
    assert store.load(TRANSFER_ID) == record
    _, updated = store.update(TRANSFER_ID, lambda r: r.steps.append("target"))
    assert updated == replace(record, steps=["hold", "target"])
    assert store.load(TRANSFER_ID) == updated
    assert "null" not in (client.get(store.key(TRANSFER_ID)) or b"").decode()


def test_an_unknown_record_is_none_and_never_created_by_an_update(
    store: TransferStore, client: fakeredis.FakeRedis
) -> None:
    assert store.load(TRANSFER_ID) is None
    assert store.update(TRANSFER_ID, lambda r: setattr(r, "attempts", 1)) == (None, None)
    assert client.keys("*") == []


# ---- one transfer at a time per task (CONTRACT rule 10) ---------------------------------------


def request(n: int, target: str = sid("WQ", 5)) -> TransferRecord:
    return pending(id=f"{n:032x}", target_sid=target)


def test_a_second_transfer_of_a_task_waits_for_the_pending_one_to_settle():
    store = TransferStore(fakeredis.FakeRedis())
    first = request(1)
    assert store.open(first) == OpenResult(Opened.OPENED, first.id)
    assert store.open(request(2)) == OpenResult(Opened.PENDING, first.id)
    assert store.load(request(2).id) is None  # nothing written for the refused one
    other_task = replace(request(3), task_sid=sid("WT", 9))
    assert store.open(other_task).outcome is Opened.OPENED

    def fail(record: TransferRecord) -> None:
        record.status = TransferStatus.FAILED

    store.update(first.id, fail)
    assert not store.redis.exists(store.pending_key(first.task_sid))  # released as it settled
    assert store.open(request(4)).outcome is Opened.OPENED


def test_a_marker_naming_a_settled_or_expired_record_does_not_count():
    store = TransferStore(fakeredis.FakeRedis())
    first = request(1)
    store.open(first)
    store.redis.set(store.key(first.id), created().to_json())  # settled, marker left behind
    assert store.open(request(2)).outcome is Opened.OPENED
    store.redis.delete(store.key(request(2).id))  # expired
    assert store.open(request(3)).outcome is Opened.OPENED


def test_the_same_idempotency_key_gets_the_same_transfer_even_once_settled():
    store = TransferStore(fakeredis.FakeRedis())
    first = request(1)
    assert store.open(first, "click-1").outcome is Opened.OPENED
    assert store.open(request(2), "click-1") == OpenResult(Opened.SAME, first.id)
    assert store.open(request(3), "click-2") == OpenResult(Opened.PENDING, first.id)
    assert store.open(request(4, target=sid("WK", 7)), "click-1") == OpenResult(Opened.KEY_REUSED, first.id)
    store.update(first.id, lambda r: setattr(r, "status", TransferStatus.CREATED))
    assert store.open(request(5), "click-1") == OpenResult(Opened.SAME, first.id)
    assert store.open(request(6), "click-3").outcome is Opened.OPENED


def test_a_withdrawn_transfer_leaves_nothing_behind():
    store = TransferStore(fakeredis.FakeRedis())
    first = request(1)
    store.open(first, "click-1")
    store.withdraw(first, "click-1")
    assert store.redis.keys("*") == []
    assert store.open(request(2), "click-1").outcome is Opened.OPENED
