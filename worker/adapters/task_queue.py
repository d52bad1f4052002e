"""Putting work on the broker: the receiver's only way into Celery."""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import uuid4

from kombu.serialization import dumps as kombu_dumps

from worker.domain.errors import ServiceUnavailable

# Task names, shared by the receiver (which only sends) and worker.tasks (which defines them).
TASKROUTER_EVENT = "chat_transfer.events.taskrouter"
CONVERSATIONS_EVENT = "chat_transfer.events.conversations"
CLOUDEVENT = "chat_transfer.events.cloudevent"  # one CloudEvent from the Event Streams sink
TRACK_TASK = "chat_transfer.events.track_task"
RUN_TRANSFER = "chat_transfer.transfers.run"
RECONCILE = "chat_transfer.maintenance.reconcile"

REDIS_SCHEMES = ("redis", "rediss", "unix")


class TaskQueue(Protocol):
    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None: ...

    def ping(self) -> None: ...


def summary(payload: dict[str, Any]) -> dict[str, str]:
    """A short `argsrepr` for a webhook event, so Celery does not `saferepr` all of its fields
    (about a tenth of the receiver's CPU per event) and worker logs name the event, not its data."""
    fields = payload.get("fields")
    cloudevent = payload.get("cloudevent")
    if isinstance(cloudevent, dict):
        return {"argsrepr": f"[{cloudevent.get('type', '?')} {cloudevent.get('id', '')}]", "kwargsrepr": "{}"}
    if not isinstance(fields, dict):
        return {}
    name = fields.get("Sid") or fields.get("ConversationSid") or ""
    return {"argsrepr": f"[{fields.get('EventType', '?')} {name}]", "kwargsrepr": "{}"}


class CeleryTaskQueue:
    """Publishes by task name, so the receiver never imports the tasks' code."""

    # One quick retry covers a pooled connection that died with a restarted broker.
    _RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

    def __init__(self, celery_app: Any) -> None:
        self._app = celery_app
        self._queues: dict[str, str] = {}

    def enqueue(self, task_name: str, payload: dict[str, Any]) -> None:
        try:
            self._app.send_task(
                task_name, args=[payload], retry=True, retry_policy=self._RETRY_POLICY, **summary(payload)
            )
        except Exception as error:  # kombu raises OperationalError, redis its own ConnectionErrors
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error

    def ping(self) -> None:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error

    def is_redis_at(self, redis_url: str) -> bool:
        """Whether the broker is the Redis database at `redis_url`, with kombu's plain key layout:
        then a message can be written to its queue's list in the same script as other keys."""
        broker_url = self._app.conf.broker_url or ""
        options = self._app.conf.broker_transport_options or {}
        return (
            broker_url == redis_url
            and urlsplit(broker_url).scheme in REDIS_SCHEMES
            and not options.get("global_keyprefix")
        )

    def redis_message(self, task_name: str, payload: dict[str, Any]) -> tuple[str, str]:
        """The list key and the message that `send_task` would push for this task on a Redis broker.

        Celery builds the task message itself (`amqp.create_task_message`, protocol 2) and kombu
        serializes its body; the envelope around them is kombu's Redis transport format, pinned
        to what kombu writes by tests/integration/test_intake_one_step.py. The list is named after the queue
        the task routes to; priority 0 (the default) is the list with the queue's own name.
        """
        queue = self._queues.get(task_name)
        if queue is None:
            queue = self._queues[task_name] = self._app.amqp.router.route({}, task_name)["queue"].name
        reprs = summary(payload)
        task_id = str(uuid4())
        headers, properties, body, _sent = self._app.amqp.create_task_message(
            task_id, task_name, [payload], None, reply_to=self._app.thread_oid, **reprs
        )
        content_type, content_encoding, data = kombu_dumps(body, serializer="json")
        envelope = {
            "body": base64.b64encode(data.encode() if isinstance(data, str) else data).decode(),
            "content-encoding": content_encoding,
            "content-type": content_type,
            "headers": headers,
            "properties": {
                **properties,
                **reprs,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid4()),
            },
        }
        return queue, json.dumps(envelope)
