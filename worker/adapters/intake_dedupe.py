"""Redis keys that make the receiver act once on an event Twilio delivers more than once.

When the broker is this same Redis, `queue_once` pushes the Celery message and sets the key in
one script: the key exists exactly when the event is queued, in one round trip. With
REDIS_WAIT_REPLICAS set, the same round trip waits for the replicas (worker.adapters.replication);
a redelivery of an event already queued rewrites its key's expiry, so that its answer waits for
the replicas too: a 2xx always means "queued, and on a replica".

With any other broker, a delivery first *claims* its key for a short time, is queued, then
marks the key *queued* for `ttl` seconds. A failed enqueue releases the claim, so Twilio's retry
is not dropped; a claim that could not be released (Redis went away) makes the retry wait and
answer 503 until it runs out, never 2xx for an event nobody queued.
"""

from __future__ import annotations

import contextlib
import time
from enum import StrEnum
from typing import Any

import redis
from redis.commands.core import Script

from worker.adapters.replication import write_durably
from worker.domain.errors import ServiceUnavailable

CLAIM_SECONDS = 30
CLAIM_WAIT_SECONDS = 1.0  # how long a redelivery waits for a concurrent delivery of the same event


# KEYS: the event's key, the broker's list. ARGV: seconds to remember the event, the message.
# Answers 1 when pushed, 0 when queued before, -1 when another path's claim is pending.
# A redelivery refreshes the key: a write of this connection, which the WAIT after it covers,
# and which follows the first delivery's push in the replication stream.
_QUEUE_ONCE = """
local seen = redis.call('GET', KEYS[1])
if seen == 'queued' then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 0
end
if seen then return -1 end
redis.call('SET', KEYS[1], 'queued', 'EX', ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
"""

# A batch in one script, so a sink request is one round trip, whole or not at all.
# KEYS[1..n]: the events' keys; KEYS[n+1..2n]: their broker lists. ARGV[1]: seconds to remember,
# ARGV[2..n+1]: the messages. Answers -1, pushing nothing, when any key is claimed by the other
# path; else one 1 (pushed) or 0 (queued before, or earlier in this batch) per event.
_QUEUE_BATCH_ONCE = """
local n = #KEYS / 2
for i = 1, n do
  local seen = redis.call('GET', KEYS[i])
  if seen and seen ~= 'queued' then return -1 end
end
local pushed = {}
for i = 1, n do
  if redis.call('GET', KEYS[i]) == 'queued' then
    redis.call('EXPIRE', KEYS[i], ARGV[1])  -- as in _QUEUE_ONCE: the answer's WAIT covers it
    pushed[i] = 0
  else
    redis.call('SET', KEYS[i], 'queued', 'EX', ARGV[1])
    redis.call('LPUSH', KEYS[n + i], ARGV[i + 1])
    pushed[i] = 1
  end
end
return pushed
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
        self._queue_batch_once = client.register_script(_QUEUE_BATCH_ONCE)

    def queue_once(self, event_id: str, list_key: str, message: str) -> bool:
        """Push `message` onto `list_key` unless the event was queued before: True when pushed.

        A key "claimed" by the other path (a receiver configured with another broker, during a
        change of configuration) is treated as `claim` treats it: 503, Twilio retries.
        """
        pushed = self._run(self._queue_once, [self._prefix + event_id, list_key], [self._ttl, message])
        if pushed < 0:
            raise ServiceUnavailable("another delivery of this event is not queued yet")
        return pushed == 1

    def queue_batch_once(self, items: list[tuple[str, str, str]]) -> list[bool]:
        """`queue_once` for (event id, list, message) items in one script: True for each pushed.
        Nothing is pushed when any event's key is claimed by the other path (503, Twilio retries)."""
        if not items:
            return []
        keys = [self._prefix + event_id for event_id, _, _ in items] + [lst for _, lst, _ in items]
        pushed = self._run(self._queue_batch_once, keys, [self._ttl, *(m for _, _, m in items)])
        if pushed == -1:
            raise ServiceUnavailable("another delivery of an event of this batch is not queued yet")
        return [flag == 1 for flag in pushed]

    def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run a script in a round trip that, with REDIS_WAIT_REPLICAS, waits for the replicas."""

        def call(pipe: redis.client.Pipeline) -> None:
            pipe.evalsha(script.sha, len(keys), *keys, *args)

        try:
            try:
                [answer] = write_durably(self._redis, call)
            except redis.exceptions.NoScriptError:  # a new server (restarted, or promoted by a failover)
                self._redis.script_load(script.script)
                [answer] = write_durably(self._redis, call)
        except redis.RedisError as error:
            raise ServiceUnavailable(f"redis unreachable: {type(error).__name__}") from error
        return answer

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
