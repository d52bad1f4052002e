"""Putting work on the broker: the receiver's only way into Celery."""

from __future__ import annotations

from typing import Any, Protocol

from worker.domain.errors import ServiceUnavailable

# Task names, shared by the receiver (which only sends) and worker.tasks (which defines them).
TASKROUTER_EVENT = "chat_transfer.events.taskrouter"
CONVERSATIONS_EVENT = "chat_transfer.events.conversations"
TRACK_TASK = "chat_transfer.events.track_task"
RUN_TRANSFER = "chat_transfer.transfers.run"
RECONCILE = "chat_transfer.maintenance.reconcile"


class TaskQueue(Protocol):
    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None: ...

    def ping(self) -> None: ...


class CeleryTaskQueue:
    """Publishes by task name, so the receiver never imports the tasks' code."""

    # One quick retry covers a pooled connection that died with a restarted broker.
    _RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

    def __init__(self, celery_app: Any) -> None:
        self._app = celery_app

    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None:
        try:
            self._app.send_task(task_name, args=[payload], retry=True, retry_policy=self._RETRY_POLICY)
        except Exception as error:  # kombu raises OperationalError, redis its own ConnectionErrors
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error

    def ping(self) -> None:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error
