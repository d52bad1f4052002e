"""Transfer records in Redis: what `GET /transfers/<id>` answers and what the orchestration resumes.

A record is kept `RECORD_TTL_SECONDS` (7 days) from its last change while the transfer is pending:
retries, and a dead letter retried by hand, resume from it. Once the transfer has settled (created
or failed) it holds only what `GET /transfers/<id>` answers (`TransferRecord.to_json`) and is kept
`SETTLED_RECORD_TTL_SECONDS` (a day), for the Flex UI polling its status.

One transfer at a time per task (CONTRACT rule 10): `open` writes a record only when no other
transfer of the task is pending, decided in one Redis script, so two clicks on two receiver
processes make one transfer. The task's `transfer-pending` marker names its pending transfer; a
marker whose record has settled (created or failed) or expired no longer counts, and a settling
update removes it. An `Idempotency-Key` is remembered with the request it came with (target and
mode) as long as the record: the same key again is answered with the same transfer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import redis

from worker.adapters.redis_json import atomic_update
from worker.adapters.replication import write_durably
from worker.domain.transfer import TransferRecord

T = TypeVar("T")
RECORD_TTL_SECONDS = 7 * 24 * 3600
SETTLED_RECORD_TTL_SECONDS = 24 * 3600


def ttl(record: TransferRecord) -> int:
    return SETTLED_RECORD_TTL_SECONDS if record.settled else RECORD_TTL_SECONDS


class Opened(StrEnum):
    OPENED = "opened"  # this request's record was written: queue it
    SAME = "same"  # the same Idempotency-Key and request as an earlier one: answer its transfer
    PENDING = "pending"  # another transfer of the task is being set up
    KEY_REUSED = "key-reused"  # the Idempotency-Key came with another request


@dataclass(frozen=True)
class OpenResult:
    outcome: Opened
    transfer_id: str


# KEYS: the new record, the task's pending marker, [the Idempotency-Key's entry].
# ARGV: record key prefix, new id, record JSON, record TTL, the request's fingerprint.
# A record is pending while its JSON has no "status" (left out at its default) or "pending".
_OPEN = """
local function pending(id)
  local raw = redis.call('GET', ARGV[1] .. id)
  if not raw then return false end
  local status = cjson.decode(raw)['status']
  return status == nil or status == 'pending'
end
if KEYS[3] then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local id, fingerprint = string.match(seen, '^(%S+) (.*)$')
    if redis.call('EXISTS', ARGV[1] .. id) == 1 then
      if fingerprint == ARGV[5] then return {'same', id} end
      return {'key-reused', id}
    end
  end
end
local current = redis.call('GET', KEYS[2])
if current and pending(current) then return {'pending', current} end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[2] .. ' ' .. ARGV[5], 'EX', ARGV[4]) end
return {'opened', ARGV[2]}
"""
# KEYS: the task's pending marker, [the Idempotency-Key's entry]; ARGV: the transfer id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if KEYS[2] then
  local seen = redis.call('GET', KEYS[2])
  if seen and string.sub(seen, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then redis.call('DEL', KEYS[2]) end
end
return 1
"""


class Guard(Protocol):
    def guarded_update(self, client: redis.Redis, key: str, change: Any, write: Any) -> Any: ...


@dataclass
class TransferStore:
    """`lock`: a copy of the store whose updates commit only while that lock is held
    (`worker.adapters.transfer_lock`), for the one copy of a transfer job that runs its steps."""

    redis: redis.Redis
    prefix: str = "cft:"
    lock: Guard | None = None

    def with_lock(self, lock: Guard) -> TransferStore:
        return TransferStore(self.redis, self.prefix, lock)

    def key(self, transfer_id: str) -> str:
        return f"{self.prefix}transfer:{transfer_id}"

    def create(self, record: TransferRecord) -> bool:
        [created] = write_durably(
            self.redis, lambda pipe: pipe.set(self.key(record.id), record.to_json(), nx=True, ex=ttl(record))
        )
        return bool(created)

    def pending_key(self, task_sid: str) -> str:
        return f"{self.prefix}transfer-pending:{task_sid}"

    def idempotency_key(self, task_sid: str, key: str) -> str:
        return f"{self.prefix}transfer-key:{task_sid}:{hashlib.sha256(key.encode()).hexdigest()}"

    def open(self, record: TransferRecord, idempotency_key: str | None = None) -> OpenResult:
        """Write `record` unless another transfer of its task is pending (see the module's doc)."""
        keys = [self.key(record.id), self.pending_key(record.task_sid)]
        if idempotency_key is not None:
            keys.append(self.idempotency_key(record.task_sid, idempotency_key))
        fingerprint = f"{record.target_sid} {record.mode}"
        [(outcome, transfer_id)] = write_durably(  # waits for REDIS_WAIT_REPLICAS before the 202
            self.redis,
            lambda pipe: pipe.eval(
                _OPEN, len(keys), *keys, self.key(""), record.id, record.to_json(), ttl(record), fingerprint
            ),
        )
        text = [value.decode() if isinstance(value, bytes) else value for value in (outcome, transfer_id)]
        return OpenResult(Opened(text[0]), text[1])

    def withdraw(self, record: TransferRecord, idempotency_key: str | None = None) -> None:
        """Undo `open` for a transfer that could not be queued: the next request starts afresh."""
        keys = [self.pending_key(record.task_sid)]
        if idempotency_key is not None:
            keys.append(self.idempotency_key(record.task_sid, idempotency_key))
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key(record.id))
            pipe.eval(_RELEASE, len(keys), *keys, record.id)
            pipe.execute()

    def load(self, transfer_id: str) -> TransferRecord | None:
        raw = self.redis.get(self.key(transfer_id))
        if raw is None:
            return None
        return TransferRecord.from_json(raw.decode() if isinstance(raw, bytes) else raw)

    def update(
        self, transfer_id: str, change: Callable[[TransferRecord], T]
    ) -> tuple[T | None, TransferRecord | None]:
        key = self.key(transfer_id)
        outcome: dict[str, Any] = {}

        def apply(current: str | None) -> tuple[tuple[T | None, TransferRecord | None], str | None]:
            if current is None:
                return (None, None), None
            record = outcome["record"] = TransferRecord.from_json(current)
            result = change(record)
            return (result, record), record.to_json()

        def write(pipe: redis.client.Pipeline, text: str) -> None:
            record = outcome["record"]
            pipe.set(key, text, ex=ttl(record))
            if record.settled:  # the task may be transferred again
                pipe.eval(_RELEASE, 1, self.pending_key(record.task_sid), record.id)

        if self.lock is not None:
            return self.lock.guarded_update(self.redis, key, apply, write)
        return atomic_update(self.redis, key, apply, write)
