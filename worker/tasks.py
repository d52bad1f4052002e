"""Celery tasks: thin entrypoints that parse their payload and call a handler.

Every task is idempotent (handlers are), acknowledged late and given back if the worker is
lost. Transient trouble — Twilio 429/5xx or no answer, Redis unreachable, store contention —
is retried with exponential backoff and jitter, no sooner than Twilio's Retry-After and never
with a countdown the broker cannot hold (`worker.domain.retry`: a longer wait is parked for
beat); work that still fails is recorded as a dead letter, and what it leaves half done is
settled by its handler's give-up (a transfer: failed, `give_up_transfer`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject

from worker.adapters.dead_letters import DeadLetters
from worker.adapters.deferred import DeferredWork
from worker.adapters.http_client import TwilioTransient
from worker.adapters.redis_json import StoreContention
from worker.adapters.task_queue import (
    CLOUDEVENT,
    CONVERSATIONS_EVENT,
    DRAIN_OUTBOX,
    LEAVE_CHAT,
    RECONCILE,
    RETRY_OUTBOX_ITEM,
    RUN_TRANSFER,
    TASKROUTER_EVENT,
    TRACK_TASK,
)
from worker.adapters.transfer_lock import TransferBusy
from worker.adapters.worker_metrics import WorkerMetrics
from worker.celery_app import app
from worker.domain.cloudevents import cloudevent_of, domain_event
from worker.domain.events import ConversationEvent, LeaveRequested, TaskRouterEvent, TrackTaskRequested
from worker.domain.model import OutboxItem
from worker.domain.retry import countdown_limit, plan_retry
from worker.handlers.deps import process_deps
from worker.handlers.outbox import drain, retry_dead_item
from worker.handlers.reconcile import reconcile as run_reconcile
from worker.handlers.tracking import (
    handle_conversation_event,
    handle_leave,
    handle_taskrouter_event,
    handle_track_task,
)
from worker.handlers.transfers import InviteTaskNotYetVisible, give_up_transfer
from worker.handlers.transfers import run_transfer as run_transfer_handler
from worker.settings import load_settings_or_exit

log = logging.getLogger("chat_transfer.tasks")

STATS_KEY = "cft:stats:events"
SETTINGS = load_settings_or_exit()
MAX_RETRIES = SETTINGS.task_max_retries
TRANSIENT = (
    TwilioTransient,
    redis.RedisError,
    ConnectionError,
    TimeoutError,
    StoreContention,
    InviteTaskNotYetVisible,
    TransferBusy,
)

TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": MAX_RETRIES,
}

# Settles what work that has become a dead letter leaves behind: (attempts made, the last error).
GiveUp = Callable[[int, Exception], object]


def record_dead_letter(task_name: str, payload: Any, error: BaseException) -> None:
    entry = {"task": task_name, "payload": payload, "error": repr(error), "at": time.time()}
    try:
        DeadLetters(process_deps().redis).add(entry)
        WorkerMetrics(process_deps().redis).dead_letter(task_name)
    except redis.RedisError:
        log.error("dead letter lost: redis unreachable", extra={"task": task_name})


def run(
    task: Task,
    payload: Any,
    handler: Callable[[], Any],
    label: str | None = None,
    give_up: GiveUp | None = None,
) -> Any:
    """Run `handler`; transient trouble is retried, up to `TASK_MAX_RETRIES`; anything else
    unexpected is logged, counted and retried up to `OUTBOX_MAX_ATTEMPTS` attempts in all; work
    that runs out of retries becomes a dead letter, then `give_up` settles it. Nothing fails
    silently."""
    try:
        outcome = handler()
        if label:
            # Operators' per-type count of events handled (what `inspect` and the e2e tests read).
            process_deps().redis.hincrby(STATS_KEY, label, 1)
        return outcome
    except TRANSIENT as error:
        if isinstance(error, TwilioTransient):
            _metrics().step_failed(task.name, error.status)
        return _retry_later(task, payload, error, MAX_RETRIES, give_up)
    except Exception as error:
        # A bug, or data we cannot read: never acknowledged as if it had worked.
        log.exception("task failed unexpectedly", extra={"task": task.name})
        _metrics().unexpected(task.name, error)
        return _retry_later(task, payload, error, SETTINGS.outbox_max_attempts - 1, give_up)


def _metrics() -> WorkerMetrics:
    return WorkerMetrics(process_deps().redis)


def _retry_later(task: Task, payload: Any, error: Exception, max_retries: int, give_up: GiveUp | None) -> Any:
    if task.request.retries >= max_retries:
        record_dead_letter(task.name, payload, error)
        if give_up is not None:
            _settle_given_up(task, give_up, error)
        raise error
    plan = plan_retry(
        task.request.retries,
        getattr(error, "retry_after", None),
        first=SETTINGS.retry_backoff_seconds,
        visibility_timeout=SETTINGS.broker_visibility_timeout_seconds,
    )
    countdown = plan.countdown
    if countdown is None:
        # Longer than the broker can hold the message without delivering it twice: parked in
        # Redis, and sent again by beat's reconciliation when it is due.
        now = time.time()
        try:
            DeferredWork(process_deps().redis).park(
                task.name, payload, retries=task.request.retries + 1, due=now + (plan.park_for or 0), now=now
            )
            log.info("retry parked for beat", extra={"task": task.name, "seconds": plan.park_for})
            _metrics().parked(task.name)
            return None
        except redis.RedisError:
            # Nowhere to park it: the longest wait the broker can hold instead (Twilio may then
            # answer 429 once more, and the retry after that is parked).
            countdown = countdown_limit(SETTINGS.broker_visibility_timeout_seconds)
    _metrics().retried(task.name)
    try:
        retry = task.retry(exc=error, countdown=countdown, throw=False)
    except Reject as unsent:
        # The retry could not be published: the broker is down too (one Redis for both).
        # Celery would reject the message without requeue and the event, already answered
        # 2xx, would be gone. Given back instead, it is redelivered (or, while the broker
        # cannot even take it back, restored after the visibility timeout).
        log.warning("retry not published; message given back", extra={"task": task.name})
        raise Reject(unsent.reason, requeue=True) from error
    raise retry from error


def _settle_given_up(task: Task, give_up: GiveUp, error: Exception) -> None:
    try:
        give_up(task.request.retries + 1, error)
    except Exception:
        # Left as it was, the dead letter already recorded: its retry resumes the work.
        log.exception("work given up but not settled", extra={"task": task.name})


def _raise(error: Exception) -> Callable[[], Any]:
    def again() -> Any:
        raise error

    return again


def _webhook_event(task: Task, payload: dict[str, Any], parse: Any, handle: Any) -> str:
    """Parsed inside `run`, so a payload that cannot be read is retried and dead-lettered too."""
    fields = payload.get("fields") or {}
    label = str(fields.get("EventType") or "unknown")
    return run(task, payload, lambda: handle(parse(fields), process_deps()), label)


@app.task(name=TASKROUTER_EVENT, **TASK_OPTIONS)
def taskrouter_event(self: Task, payload: dict[str, Any]) -> str:
    return _webhook_event(self, payload, TaskRouterEvent.from_form, handle_taskrouter_event)


@app.task(name=CONVERSATIONS_EVENT, **TASK_OPTIONS)
def conversations_event(self: Task, payload: dict[str, Any]) -> str:
    return _webhook_event(self, payload, ConversationEvent.from_form, handle_conversation_event)


@app.task(name=CLOUDEVENT, **TASK_OPTIONS)
def cloudevent(self: Task, payload: dict[str, Any]) -> str:
    """An event from the Event Streams sink: the same domain event, the same handler, as the
    callback's; its type and schema version are logged."""
    try:
        received = cloudevent_of(payload["cloudevent"])
        event = domain_event(received)
    except Exception as error:  # unreadable: retried and dead-lettered like any failure, not dropped
        return run(self, payload, _raise(error))
    log.debug("cloudevent", extra={"type": received.type, "schema_version": received.schema_version})
    if isinstance(event, TaskRouterEvent):
        return run(self, payload, lambda: handle_taskrouter_event(event, process_deps()), event.event_type)
    if isinstance(event, ConversationEvent):
        return run(self, payload, lambda: handle_conversation_event(event, process_deps()), event.event_type)
    return "ignored"


@app.task(name=TRACK_TASK, **TASK_OPTIONS)
def track_task(self: Task, payload: dict[str, Any]) -> str:
    return run(
        self,
        payload,
        lambda: handle_track_task(
            TrackTaskRequested(payload["taskSid"], payload["conversationSid"]), process_deps()
        ),
    )


@app.task(name=DRAIN_OUTBOX, **TASK_OPTIONS)
def drain_outbox(self: Task, payload: dict[str, Any]) -> str:
    """A chat's outbox again, once an item that failed is due (sent by the drainer itself)."""
    return run(self, payload, lambda: drain(process_deps(), payload["conversationSid"]) or "drained")


@app.task(name=RETRY_OUTBOX_ITEM, **TASK_OPTIONS)
def retry_outbox_item(self: Task, payload: dict[str, Any]) -> str:
    """`chat-transfer dead-letters retry` of an outbox item: back in its chat's outbox."""
    return run(
        self,
        payload,
        lambda: retry_dead_item(process_deps(), payload["conversationSid"], OutboxItem(**payload["item"])),
    )


@app.task(name=LEAVE_CHAT, **TASK_OPTIONS)
def leave_chat(self: Task, payload: dict[str, Any]) -> str:
    def leave() -> str:
        request = LeaveRequested(payload["taskSid"], payload["conversationSid"], payload.get("workerSid"))
        return handle_leave(request, process_deps())

    return run(self, payload, leave, "leave")


@app.task(name=RECONCILE, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=0)
def reconcile(self: Task) -> dict[str, Any]:
    report = run_reconcile(process_deps())
    log.info("reconciled", extra={"report": report.__dict__})
    return report.__dict__


@app.task(name=RUN_TRANSFER, **TASK_OPTIONS)
def run_transfer(self: Task, payload: dict[str, Any]) -> str:
    transfer_id = payload["transferId"]
    return run(
        self,
        payload,
        lambda: run_transfer_handler(transfer_id, process_deps()),
        "transfer",
        give_up=lambda attempts, error: give_up_transfer(transfer_id, attempts, error, process_deps()),
    )
