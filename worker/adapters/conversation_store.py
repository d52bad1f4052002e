"""The Redis store of conversation states: one key per chat, one atomic transition per event.

`transition()` runs a pure function on the state under WATCH/MULTI and retries when another
worker changed the same chat in between, so two workers handling the last two completions at
the same moment see each other's effect and exactly one of them decides to end the chat.

What a transition gave up (`ConversationState.given_up`: outbox items that become dead letters,
end steps skipped) is written in the same transaction: the dead letters to the list `chat-transfer
dead-letters` reads (each retried by `RETRY_OUTBOX_ITEM`), the counts to the workers' metrics,
with the chat's outbox depth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis

from worker.adapters import worker_metrics
from worker.adapters.dead_letters import DEAD_LETTERS_KEY
from worker.adapters.redis_json import atomic_update
from worker.adapters.task_queue import RETRY_OUTBOX_ITEM
from worker.domain.compact import without_defaults
from worker.domain.model import ConversationState, OutboxKind, end_step

T = TypeVar("T")


class ConversationStore:
    def __init__(self, client: redis.Redis, ttl_after_end: int, prefix: str = "cft:") -> None:
        self.redis = client
        self.ttl_after_end = ttl_after_end
        self.prefix = prefix
        self.active_key = f"{prefix}active"
        self.depth_key = worker_metrics.under(prefix, worker_metrics.OUTBOX_DEPTH_KEY)
        self.dead_letters_key = worker_metrics.under(prefix, DEAD_LETTERS_KEY)

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
            outcome["depth"] = len(state.outbox)
            outcome["state"] = state
            result = change(state)
            outcome["given_up"], state.given_up = state.given_up, []
            if current is None and state == ConversationState(sid=conversation_sid):
                return (result, state), None  # nothing recorded: no empty chat left behind
            return (result, state), json.dumps(state.to_dict(), separators=(",", ":"))

        def write(pipe: redis.client.Pipeline, text: str) -> None:
            state: ConversationState = outcome["state"]
            self._write(pipe, key, state, text, set(state.tasks) - outcome["known"])
            self._write_given_up(pipe, state.sid, outcome["given_up"])
            if len(state.outbox) != outcome["depth"]:
                if state.outbox:
                    pipe.hset(self.depth_key, state.sid, len(state.outbox))
                else:
                    pipe.hdel(self.depth_key, state.sid)

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

    def _write_given_up(
        self, pipe: redis.client.Pipeline, conversation_sid: str, given_up: list[dict]
    ) -> None:
        for entry in given_up:
            item = entry["item"]
            step = str(end_step(item)) if item.kind == OutboxKind.END else None
            worker_metrics.count_given_up(pipe, self.prefix, item.kind, entry["skipped"], step)
            if entry["skipped"]:
                continue
            letter = {
                "task": RETRY_OUTBOX_ITEM,
                "payload": {"conversationSid": conversation_sid, "item": without_defaults(item)},
                "error": entry["error"],
                "at": entry["at"],
            }
            pipe.rpush(self.dead_letters_key, json.dumps(letter))

    def active(self, limit: int = 100_000) -> Iterator[tuple[str, float]]:
        """Chats not yet ended (or with work still queued) and when each last changed or was
        checked, least recently first."""
        for member, score in self.redis.zrange(self.active_key, 0, limit - 1, withscores=True):
            yield (member.decode() if isinstance(member, bytes) else member), float(score)

    def mark_checked(self, conversation_sid: str, when: float) -> None:
        """Move a chat to the back of the reconciliation line (only if it is still active)."""
        self.redis.zadd(self.active_key, {conversation_sid: when}, xx=True)
