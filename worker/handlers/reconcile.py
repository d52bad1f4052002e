"""Reconciliation (rule 7): what we track, checked against what TaskRouter says.

Run by Celery beat every `RECONCILE_INTERVAL_SECONDS`, under a Redis lock so two beats or an
overlapping run never act twice. One paged listing of the workspace's open tasks (pending,
reserved, assigned) tells which tracked tasks ended without an event reaching us; only those
are fetched, to learn how they ended. Each run spends at most `max_calls` Twilio calls; chats
are visited least recently checked first, so work a run leaves is where the next one starts.

A conversation closed by a REST call sends no webhook (unless the caller asked for one), so each
open chat's conversation is read too, to notice one closed without us (rule 5 then runs). That
costs a call per chat, so a run spends at most a quarter of its budget on it; a chat whose
conversation was not read keeps its place at the front of the line, and the next run reads it.
A chat that changed after the listing began waits for the next run, so a task tracked a moment
ago is never mistaken for one that ended.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

from worker.adapters.deferred import DeferredWork
from worker.adapters.twilio_gateway import NotFound
from worker.domain.errors import ServiceUnavailable
from worker.domain.model import ClosedBy, CloseReason, ConversationState, Unanswered
from worker.handlers.deps import Deps
from worker.handlers.outbox import drain

log = logging.getLogger("chat_transfer.reconcile")

LOCK_KEY = "cft:reconcile:lock"
LAST_RUN_KEY = "cft:reconcile:last"
TOTALS_KEY = "cft:reconcile:totals"
HOLD_MAX_AGE_SECONDS = 300.0
CLOSED_STATUSES = {
    "wrapping": CloseReason.WRAPUP,
    "completed": CloseReason.COMPLETED,
    "canceled": CloseReason.CANCELED,
}


@dataclass
class ReconcileReport:
    chats_seen: int = 0
    tasks_checked: int = 0
    tasks_repaired: int = 0
    chats_ended: int = 0
    holds_expired: int = 0
    outboxes_redriven: int = 0
    parked_redriven: int = 0
    twilio_calls: int = 0
    conversations_checked: int = 0
    conversations_found_closed: int = 0
    skipped_locked: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def reconcile(
    deps: Deps, max_calls: int = 200, hold_max_age: float = HOLD_MAX_AGE_SECONDS
) -> ReconcileReport:
    report = ReconcileReport()
    started = time.perf_counter()
    lock_ttl = max(30, int(deps.settings.reconcile_interval_seconds * 2))
    if not deps.redis.set(LOCK_KEY, deps.owner, nx=True, ex=lock_ttl):
        report.skipped_locked = True
        return report
    try:
        _send_parked_work(deps, report)
        listed_at = deps.clock()
        open_tasks, pages = deps.gateway.open_task_sids()
        report.twilio_calls += pages
        for conversation_sid, last_touched in list(deps.store.active()):
            if report.twilio_calls >= max_calls:
                break
            if last_touched > listed_at:
                continue  # changed since the listing began: the next run looks at it
            report.chats_seen += 1
            try:
                _reconcile_chat(deps, conversation_sid, open_tasks, report, max_calls, hold_max_age)
                if _conversation_checked(deps, conversation_sid, report, max_calls):
                    deps.store.mark_checked(conversation_sid, deps.clock())
            except Exception as error:  # one chat's trouble never stops the run
                log.warning(
                    "reconcile failed", extra={"conversation_sid": conversation_sid, "error": str(error)}
                )
                report.errors.append(f"{conversation_sid}: {error}")
    finally:
        if deps.redis.get(LOCK_KEY) in (deps.owner, deps.owner.encode()):
            deps.redis.delete(LOCK_KEY)
        report.seconds = time.perf_counter() - started
        _record(deps, report)
    return report


def _record(deps: Deps, report: ReconcileReport) -> None:
    if report.skipped_locked:
        return
    pipe = deps.redis.pipeline()
    pipe.set(LAST_RUN_KEY, json.dumps({**asdict(report), "at": deps.clock()}))
    pipe.hincrby(TOTALS_KEY, "runs", 1)
    for name in (
        "tasks_repaired",
        "chats_ended",
        "holds_expired",
        "outboxes_redriven",
        "parked_redriven",
        "twilio_calls",
    ):
        pipe.hincrby(TOTALS_KEY, name, getattr(report, name))
    pipe.execute()


def _send_parked_work(deps: Deps, report: ReconcileReport) -> None:
    """Retries that had to wait longer than the broker can hold a message, now due."""
    parked = DeferredWork(deps.redis)
    for entry in parked.take_due(deps.clock()):
        try:
            deps.queue.enqueue(entry.task, entry.payload, retries=entry.retries)
            report.parked_redriven += 1
        except ServiceUnavailable:
            parked.put_back(entry)  # the next run sends it
            raise


def _reconcile_chat(
    deps: Deps,
    conversation_sid: str,
    open_tasks: set[str],
    report: ReconcileReport,
    max_calls: int,
    hold_max_age: float,
) -> None:
    state = deps.store.load(conversation_sid)
    if state is None:
        deps.redis.zrem(deps.store.active_key, conversation_sid)
        return
    now = deps.clock()
    expired, _ = deps.store.transition(
        conversation_sid, lambda s: (s.resume_end(), s.expire_holds(now, hold_max_age))[1], create=False
    )
    report.holds_expired += len(expired or [])
    policy = Unanswered(deps.settings.unanswered_transfer_action.value)
    for task_sid in state.inflight():
        if task_sid in open_tasks:
            continue
        if report.twilio_calls >= max_calls:
            return
        report.twilio_calls += 1
        report.tasks_checked += 1
        try:
            status = deps.gateway.fetch_task(task_sid).assignment_status
        except NotFound:
            status = "deleted"
        reason = CLOSED_STATUSES.get(status, CloseReason.DELETED if status == "deleted" else None)
        if reason is None:
            continue  # it opened after the listing: still in flight
        changed, _ = deps.store.transition(
            conversation_sid,
            lambda s, t=task_sid, r=reason: s.close(t, r, policy=policy, now=now),
            create=False,
        )
        report.tasks_repaired += int(bool(changed))
    after = deps.store.load(conversation_sid)
    if after is not None and after.outbox and _lease_free(after, now):
        report.outboxes_redriven += 1
        was_open = after.ended != "ended"
        drain(deps, conversation_sid)
        final = deps.store.load(conversation_sid)
        if was_open and final is not None and final.ended == "ended":
            report.chats_ended += 1


def _conversation_checked(deps: Deps, conversation_sid: str, report: ReconcileReport, max_calls: int) -> bool:
    """Read the chat's conversation, within a quarter of the run's budget; a closed (or deleted)
    one is the chat closed by someone else (rule 5). False when it could not be read this run."""
    state = deps.store.load(conversation_sid)
    if state is None or state.customer_left or state.ended == "ended":
        return True  # nothing to learn: already closed, or gone
    if report.conversations_checked >= max_calls // 4 or report.twilio_calls >= max_calls:
        return False
    report.twilio_calls += 1
    report.conversations_checked += 1
    try:
        _, conversation_state = deps.gateway.conversation_attributes(conversation_sid)
    except NotFound:
        conversation_state = "closed"
    if conversation_state == "closed":
        changed, _ = deps.store.transition(
            conversation_sid, lambda s: s.conversation_closed(ClosedBy.OTHER), create=False
        )
        report.conversations_found_closed += int(bool(changed))
        drain(deps, conversation_sid)
    return True


def _lease_free(state: ConversationState, now: float) -> bool:
    return state.lease is None or state.lease.until <= now
