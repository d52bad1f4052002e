"""One copy of a transfer job at a time (CONTRACT §6 rule 10): a fenced, renewed lock in Redis.

A retry, a redelivery after the broker's visibility timeout or a dead letter retried by hand can
put two copies of `run_transfer` for one transfer on two workers at once; without a lock both may
find no task carrying the transfer's marker and both create one. The lock is a Redis key holding
the holder's `Lease` (owner, until, fence — the fence from a counter, so each taking is told
apart); it is taken only when free or expired, renewed before any Twilio call that could land
after it (`worker.domain.lease`: the same terms as the outbox's lease), and every write of the
transfer's record checks it in the same transaction. A copy that finds the lock held retries
later (`TransferBusy`, transient); a copy that lost it (`TransferLockLost`) stops and writes
nothing more: the copy that took it over looks up, before it creates, what the first one did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import redis

from worker.adapters.redis_json import atomic_update, watched
from worker.domain.lease import LeaseTerms
from worker.domain.model import Lease

KEEP_SECONDS = 7 * 24 * 3600  # a lock or fence left behind is cleaned up after the record's life


class TransferBusy(Exception):
    """Another copy of this transfer job holds its lock: retry after `retry_after` seconds."""

    def __init__(self, transfer_id: str, retry_after: float) -> None:
        super().__init__(f"transfer {transfer_id} is being run by another copy")
        self.retry_after = retry_after


class TransferLockLost(Exception):
    """This copy's lock expired and was taken over: it must write nothing more."""


class TransferLock:
    def __init__(
        self,
        client: redis.Redis,
        transfer_id: str,
        owner: str,
        terms: LeaseTerms,
        clock: Callable[[], float],
        prefix: str = "cft:",
    ) -> None:
        self.redis = client
        self.transfer_id = transfer_id
        self.owner = owner
        self.terms = terms
        self.clock = clock
        self.key = f"{prefix}transfer-lock:{transfer_id}"
        self.fence_key = f"{prefix}transfer-lock-fence:{transfer_id}"
        self.held: Lease | None = None

    def _read(self, pipe: Any) -> Lease | None:
        raw = pipe.get(self.key)
        return Lease(**json.loads(raw)) if raw else None

    def _write(self, pipe: Any, lease: Lease | None) -> None:
        pipe.multi()
        if lease is None:
            pipe.delete(self.key)
        else:
            pipe.set(self.key, json.dumps(asdict(lease)), ex=KEEP_SECONDS)
        pipe.execute()

    def _locked(self, step: Callable[[Any], Any]) -> Any:
        return watched(self.redis, [self.key], step)

    def acquire(self) -> None:
        """Take the lock, or raise `TransferBusy` while another copy holds it."""
        fence = int(self.redis.incr(self.fence_key))
        self.redis.expire(self.fence_key, KEEP_SECONDS)

        def take(pipe: Any) -> Lease:
            now = self.clock()
            current = self._read(pipe)
            if current is not None and current.until > now:
                raise TransferBusy(self.transfer_id, retry_after=current.until - now)
            lease = Lease(self.owner, now + self.terms.ttl, fence)
            self._write(pipe, lease)
            return lease

        self.held = self._locked(take)

    def check(self, pipe: Any) -> None:
        """In a watched transaction: raise unless this copy still holds the lock."""
        current = self._read(pipe)
        if self.held is None or current != self.held:
            raise TransferLockLost(f"transfer {self.transfer_id}: lock {self.held} is gone")

    def before_call(self) -> None:
        """Renew the lock when a Twilio call started now could land after it."""
        assert self.held is not None
        now = self.clock()
        if self.terms.call_fits(now, self.held.until):
            return

        def renew(pipe: Any) -> Lease:
            self.check(pipe)
            assert self.held is not None
            lease = Lease(self.owner, max(self.held.until, now + self.terms.ttl), self.held.fence)
            self._write(pipe, lease)
            return lease

        self.held = self._locked(renew)

    def release(self) -> None:
        def free(pipe: Any) -> None:
            if self._read(pipe) == self.held:
                self._write(pipe, None)
            else:
                pipe.unwatch()

        if self.held is not None:
            self._locked(free)
            self.held = None

    def guarded_update(self, client: redis.Redis, key: str, change: Any, write: Any) -> Any:
        """`atomic_update` of `key` that commits only while this copy holds the lock."""
        return atomic_update(client, key, change, write, guard=self.check, guard_key=self.key)
