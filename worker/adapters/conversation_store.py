"""The Redis store of conversation states: one key per chat, one atomic transition per event.

`transition()` runs a pure function on the state under WATCH/MULTI and retries when another
worker changed the same chat in between, so two workers handling the last two completions at
the same moment see each other's effect and exactly one of them decides to end the chat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis

from worker.adapters.redis_json import atomic_update
from worker.domain.model import ConversationState

T = TypeVar("T")


class ConversationStore:
    def __init__(self, client: redis.Redis, ttl_after_end: int, prefix: str = "cft:") -> None:
        self.redis = client
        self.ttl_after_end = ttl_after_end
        self.prefix = prefix
        self.active_key = f"{prefix}active"

    def key(self, conversation_sid: str) -> str:
        return f"{self.prefix}conv:{conversation_sid}"

    def task_key(self, task_sid: str) -> str:
        return f"{self.prefix}task:{task_sid}"

    def load(self, conversation_sid: str) -> ConversationState | None:
        raw = self.redis.get(self.key(conversation_sid))
        return ConversationState.from_dict(json.loads(raw)) if raw else None

    def conversation_of_task(self, task_sid: str) -> str | None:
        raw = self.redis.get(self.task_key(task_sid))
        return raw.decode() if isinstance(raw, bytes) else raw

    def transition(
        self,
        conversation_sid: str,
        change: Callable[[ConversationState], T],
        *,
        create: bool = True,
    ) -> tuple[T | None, ConversationState | None]:
        """Apply `change` atomically; returns its result and the state as stored after it."""
        key = self.key(conversation_sid)
        outcome: dict[str, Any] = {}

        def apply(current: str | None) -> tuple[tuple[T | None, ConversationState | None], str | None]:
            if current is None and not create:
                return (None, None), None
            state = (
                ConversationState.from_dict(json.loads(current))
                if current
                else ConversationState(sid=conversation_sid)
            )
            outcome["known"] = set(state.tasks)
            outcome["state"] = state
            result = change(state)
            if current is None and state == ConversationState(sid=conversation_sid):
                return (result, state), None  # nothing recorded: no empty chat left behind
            return (result, state), json.dumps(state.to_dict(), separators=(",", ":"))

        def write(pipe: redis.client.Pipeline, text: str) -> None:
            state: ConversationState = outcome["state"]
            self._write(pipe, key, state, text, set(state.tasks) - outcome["known"])

        return atomic_update(self.redis, key, apply, write)

    def _write(
        self, pipe: redis.client.Pipeline, key: str, state: ConversationState, data: str, new_tasks: set[str]
    ) -> None:
        for task_sid in new_tasks:
            pipe.set(self.task_key(task_sid), state.sid)
        if state.ended == "ended" and not state.outbox:
            # Finished: everything about the chat expires a while after it ended.
            pipe.set(key, data, ex=self.ttl_after_end)
            pipe.zrem(self.active_key, state.sid)
            for task_sid in state.tasks:
                pipe.expire(self.task_key(task_sid), self.ttl_after_end)
        else:
            pipe.set(key, data)
            pipe.zadd(self.active_key, {state.sid: time.time()})

    def active(self, limit: int = 100_000) -> Iterator[tuple[str, float]]:
        """Chats not yet ended (or with work still queued) and when each last changed or was
        checked, least recently first."""
        for member, score in self.redis.zrange(self.active_key, 0, limit - 1, withscores=True):
            yield (member.decode() if isinstance(member, bytes) else member), float(score)

    def mark_checked(self, conversation_sid: str, when: float) -> None:
        """Move a chat to the back of the reconciliation line (only if it is still active)."""
        self.redis.zadd(self.active_key, {conversation_sid: when}, xx=True)
