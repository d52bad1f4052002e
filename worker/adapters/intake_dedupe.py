"""Redis keys that make the receiver act once on an event Twilio delivers more than once.

A delivery first *claims* its key for a short time, is queued, then marks the key *queued*
for `ttl` seconds. A failed enqueue releases the claim, so Twilio's retry is not dropped.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum

import redis

from worker.domain.errors import ServiceUnavailable

CLAIM_SECONDS = 30


class Claim(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"


class IntakeDedupe:
    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = "cft:seen:") -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._prefix = prefix

    def claim(self, event_id: str) -> Claim:
        try:
            won = self._redis.set(self._prefix + event_id, "claimed", nx=True, ex=CLAIM_SECONDS)
        except redis.RedisError as error:
            raise ServiceUnavailable(f"redis unreachable: {type(error).__name__}") from error
        return Claim.NEW if won else Claim.DUPLICATE

    def mark_queued(self, event_id: str) -> None:
        # The event is queued either way; a lost mark only lets a late redelivery through,
        # and every handler is idempotent.
        with contextlib.suppress(redis.RedisError):
            self._redis.set(self._prefix + event_id, "queued", ex=self._ttl)

    def release(self, event_id: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(self._prefix + event_id)

    def ping(self) -> None:
        try:
            self._redis.ping()
        except redis.RedisError as error:
            raise ServiceUnavailable(f"redis unreachable: {type(error).__name__}") from error
