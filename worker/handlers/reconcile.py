"""Reconciliation (rule 7): what we track, checked against what TaskRouter says.

Run by Celery beat every `RECONCILE_INTERVAL_SECONDS`, under a Redis lock so two beats or an
overlapping run never act twice. Each run spends at most `max_calls` Twilio calls; chats are
visited oldest activity first, so a run that hits its budget resumes where work is oldest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from worker.adapters.twilio_gateway import NotFound
from worker.domain.model import CloseReason, ConversationState, Unanswered
from worker.handlers.deps import Deps
from worker.handlers.outbox import drain

log = logging.getLogger("chat_transfer.reconcile")

LOCK_KEY = "cft:reconcile:lock"
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
    twilio_calls: int = 0
    skipped_locked: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def reconcile(deps: Deps, max_calls: int = 200) -> ReconcileReport:
    report = ReconcileReport()
    started = time.perf_counter()
    lock_ttl = max(30, int(deps.settings.reconcile_interval_seconds * 2))
    if not deps.redis.set(LOCK_KEY, deps.owner, nx=True, ex=lock_ttl):
        report.skipped_locked = True
        return report
    try:
        for conversation_sid in list(deps.store.active()):
            if report.twilio_calls >= max_calls:
                break
            report.chats_seen += 1
            try:
                _reconcile_chat(deps, conversation_sid, report, max_calls)
            except Exception as error:  # one chat's trouble never stops the run
                log.warning(
                    "reconcile failed", extra={"conversation_sid": conversation_sid, "error": str(error)}
                )
                report.errors.append(f"{conversation_sid}: {error}")
    finally:
        if deps.redis.get(LOCK_KEY) in (deps.owner, deps.owner.encode()):
            deps.redis.delete(LOCK_KEY)
        report.seconds = time.perf_counter() - started
    return report


def _reconcile_chat(deps: Deps, conversation_sid: str, report: ReconcileReport, max_calls: int) -> None:
    state = deps.store.load(conversation_sid)
    if state is None:
        deps.redis.zrem(deps.store.active_key, conversation_sid)
        return
    now = deps.clock()
    expired, _ = deps.store.transition(
        conversation_sid, lambda s: s.expire_holds(now, HOLD_MAX_AGE_SECONDS), create=False
    )
    report.holds_expired += len(expired or [])
    policy = Unanswered(deps.settings.unanswered_transfer_action.value)
    for task_sid in state.inflight():
        if report.twilio_calls >= max_calls:
            break
        report.twilio_calls += 1
        report.tasks_checked += 1
        try:
            status = deps.gateway.fetch_task(task_sid).assignment_status
        except NotFound:
            status = "deleted"
        reason = CLOSED_STATUSES.get(status, CloseReason.DELETED if status == "deleted" else None)
        if reason is None:
            continue
        changed, _ = deps.store.transition(
            conversation_sid,
            lambda s, t=task_sid, r=reason: s.close(t, r, policy=policy, now=now),
            create=False,
        )
        report.tasks_repaired += int(bool(changed))
    after = deps.store.load(conversation_sid)
    if after is not None and after.outbox and _lease_free(after, now):
        report.outboxes_redriven += 1
        was_ending = after.ended != "ended"
        drain(deps, conversation_sid)
        final = deps.store.load(conversation_sid)
        if was_ending and final is not None and final.ended == "ended":
            report.chats_ended += 1


def _lease_free(state: ConversationState, now: float) -> bool:
    return state.lease is None or state.lease.until <= now
