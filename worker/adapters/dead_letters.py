"""Work that gave up after its retries, kept in Redis for `chat-transfer dead-letters`."""

from __future__ import annotations

import json
from typing import Any

import redis

DEAD_LETTERS_KEY = "cft:dead-letters"


class DeadLetters:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def list(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(DEAD_LETTERS_KEY, 0, -1)]

    def take(self, index: int) -> dict[str, Any] | None:
        """Remove and return entry `index` (as listed), atomically with respect to other takers."""
        raw = self.redis.lindex(DEAD_LETTERS_KEY, index)
        if raw is None:
            return None
        removed = self.redis.lrem(DEAD_LETTERS_KEY, 1, raw)
        return json.loads(raw) if removed else None

    def add(self, entry: dict[str, Any]) -> None:
        self.redis.rpush(DEAD_LETTERS_KEY, json.dumps(entry))
