"""What handlers are given: the adapters at the edge, built once per worker process."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import redis

from worker.adapters.conversation_store import ConversationStore
from worker.adapters.redis_clients import redis_client
from worker.adapters.task_queue import CeleryTaskQueue, TaskQueue
from worker.adapters.transfer_store import TransferStore
from worker.adapters.twilio_gateway import TwilioGateway
from worker.settings import Settings, load_settings_or_exit


class WorkerTaskQueue:
    """The worker's own Celery app, imported when first used rather than when deps are built."""

    def enqueue(
        self, task_name: str, payload: dict[str, Any], *, countdown: float | None = None, retries: int = 0
    ) -> None:
        from worker.celery_app import app

        CeleryTaskQueue(app).enqueue(task_name, payload, countdown=countdown, retries=retries)


@dataclass
class Deps:
    settings: Settings
    store: ConversationStore
    gateway: TwilioGateway
    redis: redis.Redis
    transfers: TransferStore
    # Work the handlers hand back to Celery: an outbox to drain later, parked retries sent again.
    queue: TaskQueue = field(default_factory=WorkerTaskQueue)
    clock: Callable[[], float] = time.time
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")


def build_deps(settings: Settings) -> Deps:
    client = redis_client(settings, socket_timeout=5, socket_connect_timeout=2)
    return Deps(
        settings=settings,
        store=ConversationStore(client, settings.conversation_ttl_after_end_seconds),
        gateway=TwilioGateway(settings),
        redis=client,
        transfers=TransferStore(client),
    )


@lru_cache(maxsize=1)
def process_deps() -> Deps:
    """Built lazily in each worker process (after the fork), so no connection is shared."""
    return build_deps(load_settings_or_exit())
