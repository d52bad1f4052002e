"""The real drainer and transfer job in tests: their deps over fakeredis and the fake Twilio,
with a store that pauses (`tests.support.interleave`) before each transition made by an actor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis

from tests.support.fake_twilio import FakeTwilio
from tests.support.interleave import Scheduler
from tests.support.settings import make_settings
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.transfer_store import TransferStore
from worker.handlers.deps import Deps


class PausingStore(ConversationStore):
    def __init__(self, scheduler: Scheduler, client: fakeredis.FakeRedis) -> None:
        super().__init__(client, ttl_after_end=3600)
        self.scheduler = scheduler

    def transition(self, conversation_sid, change, *, create=True):  # type: ignore[no-untyped-def]
        self.scheduler.pause(("store",))
        return super().transition(conversation_sid, change, create=create)


class RecordedQueue:
    """Celery, as far as handlers see it: what they sent, kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, float | None]] = []

    def enqueue(
        self, task_name: str, payload: Any, *, countdown: float | None = None, retries: int = 0
    ) -> None:
        self.sent.append((task_name, payload, countdown))


def deps_for(
    owner: str,
    *,
    store: ConversationStore,
    twilio: FakeTwilio,
    clock: Callable[[], float],
    queue: RecordedQueue | None = None,
    **settings: Any,
) -> Deps:
    client = store.redis
    return Deps(
        settings=make_settings(**settings),
        store=store,
        gateway=twilio,  # type: ignore[arg-type]
        redis=client,
        transfers=TransferStore(client),
        queue=queue or RecordedQueue(),
        clock=clock,
        owner=owner,
    )
