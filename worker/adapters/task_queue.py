"""Putting work on the broker: the receiver's only way into Celery."""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol
from uuid import uuid4

import redis
from kombu.serialization import dumps as kombu_dumps

from worker.adapters.redis_clients import RedisTarget, broker_target, parse_redis_url
from worker.adapters.replication import write_durably
from worker.domain.errors import ServiceUnavailable

# Task names, shared by the receiver (which only sends) and worker.tasks (which defines them).
TASKROUTER_EVENT = "chat_transfer.events.taskrouter"
CONVERSATIONS_EVENT = "chat_transfer.events.conversations"
CLOUDEVENT = "chat_transfer.events.cloudevent"  # one CloudEvent from the Event Streams sink
TRACK_TASK = "chat_transfer.events.track_task"
LEAVE_CHAT = "chat_transfer.events.leave"
RUN_TRANSFER = "chat_transfer.transfers.run"
RECONCILE = "chat_transfer.maintenance.reconcile"
DRAIN_OUTBOX = "chat_transfer.events.drain_outbox"  # a chat's outbox again, once its first item is due
RETRY_OUTBOX_ITEM = "chat_transfer.events.retry_outbox_item"  # a dead outbox item back in line


class TaskQueue(Protocol):
    def enqueue(
        self, task_name: str, payload: dict[str, Any], *, countdown: float | None = None, retries: int = 0
    ) -> None: ...

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
    """Publishes by task name, so the receiver never imports the tasks' code.

    Given the state Redis's client and the broker is that same database, it pushes Celery's
    message itself (`redis_message`) with that client, so that the push waits for replicas as
    the state's writes do (worker.adapters.replication): a `POST /transfers` answered 202 keeps
    both its record and its message through a failover. Otherwise it publishes through Celery.
    """

    # One quick retry covers a pooled connection that died with a restarted broker.
    _RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

    def __init__(
        self, celery_app: Any, state_client: redis.Redis | None = None, state: RedisTarget | None = None
    ) -> None:
        self._app = celery_app
        self._queues: dict[str, str] = {}
        self._direct = state_client if state is not None and self.is_redis_at(state) else None

    def enqueue(
        self, task_name: str, payload: dict[str, Any], *, countdown: float | None = None, retries: int = 0
    ) -> None:
        """`countdown`: run it no sooner (keep it within `worker.domain.retry.countdown_limit`);
        `retries`: the retries it already had, for work sent again after it was parked. Only plain
        messages are pushed directly; a delayed or retried one goes through Celery."""
        if self._direct is not None and countdown is None and not retries:
            list_key, message = self.redis_message(task_name, payload)
            try:
                write_durably(self._direct, lambda pipe: pipe.lpush(list_key, message))
            except redis.RedisError as error:
                raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error
            return
        try:
            self._app.send_task(
                task_name,
                args=[payload],
                countdown=countdown,
                retries=retries,
                retry=True,
                retry_policy=self._RETRY_POLICY,
                **summary(payload),
            )
        except Exception as error:  # kombu raises OperationalError, redis its own ConnectionErrors
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error

    def ping(self) -> None:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise ServiceUnavailable(f"broker unreachable: {type(error).__name__}") from error

    def is_redis_at(self, state: RedisTarget | str) -> bool:
        """Whether the broker is the Redis database `state` names — one server, or one Sentinel
        master set (`master_name`) — with kombu's plain key layout: then a message can be written
        to its queue's list in the same script as other keys, and a failover moves both together."""
        options = self._app.conf.broker_transport_options or {}
        if options.get("global_keyprefix"):
            return False
        broker = broker_target(self._app.conf.broker_url or "", options)
        if broker is None:
            return False
        if isinstance(state, str):
            state = parse_redis_url(state, options.get("master_name"))
        return broker.same_database(state)

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
