"""Transfer records in Redis: what `GET /transfers/<id>` answers and what the orchestration resumes.

A record is kept `RECORD_TTL_SECONDS` (7 days) from its last change while the transfer is pending:
retries, and a dead letter retried by hand, resume from it. Once the transfer has settled (created
or failed) it holds only what `GET /transfers/<id>` answers (`TransferRecord.to_json`) and is kept
`SETTLED_RECORD_TTL_SECONDS` (a day), for the Flex UI polling its status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis

from worker.adapters.redis_json import atomic_update
from worker.domain.transfer import TransferRecord

T = TypeVar("T")
RECORD_TTL_SECONDS = 7 * 24 * 3600
SETTLED_RECORD_TTL_SECONDS = 24 * 3600


def ttl(record: TransferRecord) -> int:
    return SETTLED_RECORD_TTL_SECONDS if record.settled else RECORD_TTL_SECONDS


class TransferStore:
    def __init__(self, client: redis.Redis, prefix: str = "cft:") -> None:
        self.redis = client
        self.prefix = prefix

    def key(self, transfer_id: str) -> str:
        return f"{self.prefix}transfer:{transfer_id}"

    def create(self, record: TransferRecord) -> bool:
        return bool(self.redis.set(self.key(record.id), record.to_json(), nx=True, ex=ttl(record)))

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
            pipe.set(key, text, ex=ttl(outcome["record"]))

        return atomic_update(self.redis, key, apply, write)
