"""Work waiting longer than the broker can hold a message (`worker.domain.retry`): parked in a
Redis sorted set by when it is due, and sent again by beat's reconciliation once it is."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

DEFERRED_KEY = "cft:deferred"


@dataclass(frozen=True)
class Parked:
    task: str
    payload: Any
    retries: int
    due: float
    parked_at: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class DeferredWork:
    def __init__(self, client: redis.Redis, key: str = DEFERRED_KEY) -> None:
        self.redis = client
        self.key = key

    def park(self, task: str, payload: Any, *, retries: int, due: float, now: float) -> Parked:
        entry = Parked(task, payload, retries, due, now)
        self.redis.zadd(self.key, {json.dumps(asdict(entry), sort_keys=True): due})
        return entry

    def take_due(self, now: float, limit: int = 500) -> list[Parked]:
        """Remove and return what is due; an entry is taken by one caller only (ZREM decides)."""
        taken = []
        for raw in self.redis.zrangebyscore(self.key, "-inf", now, start=0, num=limit):
            if self.redis.zrem(self.key, raw):
                taken.append(Parked(**json.loads(raw)))
        return taken

    def all(self) -> list[Parked]:
        return [Parked(**json.loads(raw)) for raw in self.redis.zrange(self.key, 0, -1)]

    def put_back(self, entry: Parked) -> None:
        self.redis.zadd(self.key, {json.dumps(asdict(entry), sort_keys=True): entry.due})
