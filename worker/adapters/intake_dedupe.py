"""Redis keys that make the receiver act once on an event Twilio delivers more than once.

When the broker is this same Redis, `queue_once` pushes the Celery message and sets the key in
one script: the key exists exactly when the event is queued, in one round trip.

With any other broker, a delivery first *claims* its key for a short time, is queued, then
marks the key *queued* for `ttl` seconds. A failed enqueue releases the claim, so Twilio's retry
is not dropped; a claim that could not be released (Redis went away) makes the retry wait and
answer 503 until it runs out, never 2xx for an event nobody queued.
"""

from __future__ import annotations

import contextlib
import time
from enum import StrEnum

import redis

from worker.domain.errors import ServiceUnavailable

CLAIM_SECONDS = 30
CLAIM_WAIT_SECONDS = 1.0  # how long a redelivery waits for a concurrent delivery of the same event


# KEYS: the event's key, the broker's list. ARGV: seconds to remember the event, the message.
# Answers 1 when pushed, 0 when queued before, -1 when another path's claim is pending.
_QUEUE_ONCE = """
local seen = redis.call('GET', KEYS[1])
if seen == 'queued' then return 0 end
if seen then return -1 end
redis.call('SET', KEYS[1], 'queued', 'EX', ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
"""


class Claim(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"


class IntakeDedupe:
    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = "cft:seen:") -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._queue_once = client.register_script(_QUEUE_ONCE)

    def queue_once(self, event_id: str, list_key: str, message: str) -> bool:
        """Push `message` onto `list_key` unless the event was queued before: True when pushed.

        A key "claimed" by the other path (a receiver configured with another broker, during a
        change of configuration) is treated as `claim` treats it: 503, Twilio retries.
        """
        try:
            pushed = self._queue_once(keys=[self._prefix + event_id, list_key], args=[self._ttl, message])
        except redis.RedisError as error:
            raise ServiceUnavailable(f"redis unreachable: {type(error).__name__}") from error
        if pushed < 0:
            raise ServiceUnavailable("another delivery of this event is not queued yet")
        return pushed == 1

    def claim(self, event_id: str) -> Claim:
        """NEW: this delivery queues the event. DUPLICATE: an earlier delivery queued it.

        A key still "claimed" belongs to a delivery that is queueing the event right now, or to
        one whose enqueue failed while Redis went away so that its claim could not be released.
        Either way nothing is queued yet: wait a moment for the outcome, and answer 503 rather
        than acknowledge an event on the hope that someone else queued it.
        """
        key = self._prefix + event_id
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        try:
            while True:
                if self._redis.set(key, "claimed", nx=True, ex=CLAIM_SECONDS):
                    return Claim.NEW
                if self._redis.get(key) in (b"queued", "queued"):
                    return Claim.DUPLICATE
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable("another delivery of this event is not queued yet")
                time.sleep(0.01)
        except redis.RedisError as error:
            raise ServiceUnavailable(f"redis unreachable: {type(error).__name__}") from error

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
