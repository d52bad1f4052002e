"""Optimistic, retried read-modify-write of one JSON value in Redis (WATCH/MULTI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")
MAX_ATTEMPTS = 50


class StoreContention(RuntimeError):
    """Other writers changed the key on every one of `MAX_ATTEMPTS` tries: worth retrying later
    (Celery's retry, with backoff), never a failed event."""


def watched(client: redis.Redis, keys: list[str], step: Callable[[redis.client.Pipeline], T]) -> T:
    """Run `step(pipe)` with `keys` watched, again whenever another client changed one of them
    before `step`'s transaction committed; `StoreContention` after `MAX_ATTEMPTS` tries."""
    for _ in range(MAX_ATTEMPTS):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*keys)
                return step(pipe)
            except redis.WatchError:
                continue
    raise StoreContention(f"{keys[0]}: too much contention")


def atomic_update(
    client: redis.Redis,
    key: str,
    change: Callable[[str | None], tuple[T, str | None]],
    write: Callable[[redis.client.Pipeline, str], None],
    *,
    guard: Callable[[redis.client.Pipeline], None] | None = None,
    guard_key: str | None = None,
) -> T:
    """Run `change(current_text)` → (result, new_text or None for "unchanged") under WATCH;
    when something changed, `write(pipe, new_text)` queues the writes, committed atomically.
    Retries when another client changed `key` in between. `guard(pipe)`, run first with
    `guard_key` watched too, may raise to refuse the write (a lock no longer held)."""

    def step(pipe: redis.client.Pipeline) -> T:
        if guard is not None:
            guard(pipe)
        raw = pipe.get(key)
        current = raw.decode() if isinstance(raw, bytes) else raw
        result, new_text = change(current)
        if new_text is None or new_text == current:
            pipe.unwatch()
            return result
        pipe.multi()
        write(pipe, new_text)
        pipe.execute()
        return result

    return watched(client, [key, *([guard_key] if guard_key else [])], step)
