"""What keeps the browser-facing endpoints from starving Twilio's webhooks (issue 12, defect 9).

Both share gunicorn's sync workers, and a browser request may wait on Twilio (the Flex token
check, the task's holder) where a webhook answers from Redis in a millisecond; TaskRouter gives
up on a webhook after 15 s. Two limits:

- **a rate limit per client address** (`BROWSER_RATE_LIMIT`, default 600 a minute: a Flex UI
  polling a transfer's status once a second stays far below it), counted in Redis so every
  receiver process shares it; over it, 429 with `Retry-After`. The address is the peer's, or the
  one `TRUSTED_PROXY_COUNT` proxies in front of the service put in `X-Forwarded-For`; agents
  behind one NAT share it, so such a call centre raises the limit;
- **a bound on the workers busy with browser requests at once** (`BROWSER_CONCURRENCY`, default
  half of them, at least one): `chat-transfer web` gives each host as many lock files as that
  bound, and a browser request runs only while it holds one (`flock`, which the kernel releases if
  the worker dies). A request that finds none free is answered 503 with `Retry-After: 1` at once,
  so at least the rest of the workers are always free to take webhooks. The figure is in
  docs/reliability.md; `python -m bench browser` measures it.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

SLOTS_ENV = "CHAT_TRANSFER_BROWSER_SLOTS_DIR"


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} s")
        self.retry_after = retry_after


class Busy(Exception):
    """Every slot for browser requests is taken on this host."""


def make_slots(directory: str | os.PathLike[str], count: int) -> str:
    """Create `count` slot files in `directory` (what `chat-transfer web` does before it forks)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("slot-*"):
        stale.unlink()
    for n in range(count):
        (path / f"slot-{n}").touch()
    return str(path)


class BrowserSlots:
    """At most as many browser requests at once, on this host, as there are files in `directory`."""

    def __init__(self, directory: str | None) -> None:
        self._directory = Path(directory) if directory else None
        self._files: list[int] = []
        self._pid = 0

    def _open(self) -> list[int]:
        # A lock belongs to an open file: each process opens its own, after the fork.
        if self._pid != os.getpid():
            assert self._directory is not None
            self._files = [os.open(p, os.O_RDWR) for p in sorted(self._directory.glob("slot-*"))]
            self._pid = os.getpid()
        return self._files

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self._directory is None:  # not under `chat-transfer web` (tests in-process): no bound
            yield
            return
        for fd in self._open():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return
        raise Busy


class BrowserGuard:
    def __init__(self, client: redis.Redis, limit: str, slots: BrowserSlots) -> None:
        self._limit: RateLimitItem = parse(limit)
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix="cft:rate")
        self._limiter = FixedWindowRateLimiter(storage)
        self._slots = slots

    @contextlib.contextmanager
    def admit(self, client_address: str) -> Iterator[None]:
        """Raise RateLimited or Busy, or run the request in a slot. Redis errors propagate (503)."""
        if not self._limiter.hit(self._limit, "browser", client_address):
            reset_at = self._limiter.get_window_stats(self._limit, "browser", client_address).reset_time
            raise RateLimited(max(1, math.ceil(reset_at - time.time())))
        with self._slots.hold():
            yield
