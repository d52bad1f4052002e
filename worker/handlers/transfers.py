"""Transfer orchestration (CONTRACT §5, §6 rules 3-4): idempotent end to end.

Each run resumes the transfer from its record; every step is safe to repeat, so a retry after a
crash at any point creates no second task, invite or notice:
  hold      the chat may not end while the transfer is set up (opened before any change);
  target    the target's display name (cached);
  create    the transfer task (task strategy) or Interactions invite (invite strategy), found
            again by its `transferId` marker on a retry;
  track     the new task tracked on the chat, the hold released, `transfer-started` queued;
  original  `chatTransferData` on the original task, with If-Match (re-read on 412);
  cold      a cold transfer takes the first agent out: the domain's leave (see `leave`).

One copy of the job at a time (rule 10): a fenced lock per transfer (`worker.adapters.
transfer_lock`), renewed before any Twilio call that could land after it; a second copy waits
(`TransferBusy`, retried), and a copy whose lock was taken over writes nothing more. The
transitions on the chat (hold, track) need no lock: each is idempotent.

The record is written three times per transfer, not once per step: after `hold` (a retry must
not check the original task's status again once a transfer task may exist), after `create`
(with `target`: the transfer task's sid), and at the end (with `track`, `original` and `cold`).
A step done but not yet written is done again by a retry, which each of them allows: the name
is cached, the transition is idempotent (a task tracked once, a hold released once, a notice
queued once per key), `chatTransferData` is skipped when the task already has it, and the first
agent leaves once (a leave of a task already closed for the chat changes nothing).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from worker.adapters.task_queue import RUN_TRANSFER
from worker.adapters.transfer_lock import TransferBusy, TransferLock, TransferLockLost
from worker.adapters.transfer_store import TransferStore
from worker.adapters.twilio_gateway import NotFound, PreconditionFailed, TaskSnapshot, TwilioRejected
from worker.adapters.worker_metrics import WorkerMetrics
from worker.domain.events import conversation_sid_in, interaction_in
from worker.domain.model import ConversationState, TransferInfo, Unanswered
from worker.domain.notices import language_of
from worker.domain.transfer import TransferRecord, TransferStatus, gave_up_reason, transfer_task_attributes
from worker.handlers.deps import Deps
from worker.handlers.names import cached_card, worker_card
from worker.handlers.outbox import LeasedGateway, drain, lease_terms
from worker.handlers.requeue import customer_routing
from worker.handlers.task_creation import create_task_once
from worker.logs import log_context
from worker.settings import TransferStrategy

log = logging.getLogger("chat_transfer.transfers")

IF_MATCH_ATTEMPTS = 5
FAULT_INJECTION_ENV = "CHAT_TRANSFER_FAULT_INJECTION"  # "1" in the crash-safety tests only
CRASH_AT_KEY = "cft:fault:crash-at"


class TransferRefused(Exception):
    """The transfer cannot be done; `reason` is what the Flex UI shows."""


class InviteTaskNotYetVisible(Exception):
    """The invite was sent, but neither its answer nor any list names its task yet: retry shortly."""


def _checkpoint(deps: Deps, record: TransferRecord, step: str) -> None:
    """Crash injection for the crash-safety tests: inert unless the process was started with
    CHAT_TRANSFER_FAULT_INJECTION=1; then the step named in Redis kills the process, once."""
    if os.environ.get(FAULT_INJECTION_ENV) != "1":
        return
    wanted = deps.redis.get(CRASH_AT_KEY)
    if (wanted.decode() if isinstance(wanted, bytes) else wanted) != step:
        return
    if deps.redis.set(f"cft:crashed:{record.id}:{step}", "1", nx=True, ex=3600):
        os.kill(os.getpid(), signal.SIGKILL)


def run_transfer(transfer_id: str, deps: Deps) -> str:
    """Raises `TransferBusy` (retried later) while another copy of the job holds the lock."""
    return _holding_lock(transfer_id, deps, lambda locked: _run_transfer(transfer_id, locked))


def give_up_transfer(transfer_id: str, attempts: int, error: BaseException, deps: Deps) -> str:
    """The transfer's job gave up after `attempts` (it is a dead letter): the transfer settles as
    failed, as a refused one does (`_fail`: the chat's hold released, the record `failed`, the
    task's pending marker freed for the next request), unless its task was created — found on the
    record or, if an earlier run may have created it unrecorded, by its marker as a retry finds
    it — when it stays pending for the dead letter's retry to finish it.

    Idempotent: a settled transfer is left as it is. Under the transfer's lock, so no copy of the
    job runs a step meanwhile; while another copy holds it, that copy settles the transfer (its
    own give-up included). Raises what the marker's lookup raises: nothing is settled then."""
    try:
        return _holding_lock(transfer_id, deps, lambda locked: _give_up(transfer_id, attempts, error, locked))
    except TransferBusy:
        return "busy"


def settled_transfer(transfers: TransferStore, letter: dict[str, Any]) -> TransferRecord | None:
    """The settled transfer a dead letter of `run_transfer` is about, which its retry leaves alone
    (None: not a transfer's letter, or the transfer is still pending, or its record is gone)."""
    if letter.get("task") != RUN_TRANSFER:
        return None
    record = transfers.load(str((letter.get("payload") or {}).get("transferId", "")))
    return record if record is not None and record.settled else None


def _holding_lock(transfer_id: str, deps: Deps, work: Callable[[Deps], str]) -> str:
    """`work` with deps whose Twilio calls renew the transfer's lock and whose record writes
    commit only while it is held."""
    with log_context(transfer_id=transfer_id):
        lock = TransferLock(deps.redis, transfer_id, deps.owner, lease_terms(deps), deps.clock)
        lock.acquire()
        locked = replace(
            deps,
            gateway=LeasedGateway(deps.gateway, lock.before_call),
            transfers=deps.transfers.with_lock(lock),
        )
        try:
            return work(locked)
        except TransferLockLost:
            log.info(
                "transfer lock lost: the copy that took it over goes on", extra={"transfer_id": transfer_id}
            )
            return "lock lost"
        finally:
            lock.release()


def _run_transfer(transfer_id: str, deps: Deps) -> str:
    record = deps.transfers.load(transfer_id)
    if record is None or record.status != TransferStatus.PENDING:
        return "nothing to do"
    # This run is an attempt; it is written with the run's first step. Only a run that wrote
    # `hold` (or found it written) goes on to create a task, so a run that finds an attempt
    # already counted may follow one that created the task: it looks for the task first.
    record.attempts += 1
    try:
        with log_context(task_sid=record.task_sid, conversation_sid=record.conversation_sid):
            _orchestrate(deps, record, retry=record.attempts > 1)
    except TransferRefused as refusal:
        _fail(deps, record, str(refusal))
        return "failed"
    except TwilioRejected as error:
        WorkerMetrics(deps.redis).step_failed("transfer", error.status)
        _fail(deps, record, f"Twilio refused a step: {error}")
        return "failed"
    return "created"


def _give_up(transfer_id: str, attempts: int, error: BaseException, deps: Deps) -> str:
    record = deps.transfers.load(transfer_id)
    if record is None or record.settled:
        return "nothing to do"
    if record.task_recorded or (record.task_possible and _created_unrecorded(deps, record)):
        log.warning(
            "transfer job gave up after its task was created: left pending",
            extra={"transfer_id": record.id, "task_sid": record.task_sid},
        )
        return "left pending"
    with log_context(task_sid=record.task_sid, conversation_sid=record.conversation_sid):
        _fail(deps, record, gave_up_reason(attempts, error))
    return "failed"


def _created_unrecorded(deps: Deps, record: TransferRecord) -> bool:
    """Whether a run created the transfer's task (or sent its invite) without recording it: looked
    for as a retry looks (`_created_before`)."""
    try:
        interaction = interaction_in(deps.gateway.fetch_task(record.task_sid).attributes)
    except NotFound:
        interaction = None
    return _created_before(deps, record, interaction) is not None


def _fail(deps: Deps, record: TransferRecord, reason: str) -> None:
    """Release the chat first, then say `failed`: whoever reads `failed` sees no hold left."""
    log.warning(
        "transfer failed", extra={"transfer_id": record.id, "task_sid": record.task_sid, "reason": reason}
    )
    # Before its `hold` step is written the record names no chat, but the hold may be open: the
    # task is tracked on its chat first.
    conversation_sid = record.conversation_sid or deps.store.conversation_of_task(record.task_sid)
    state = None
    if conversation_sid:
        _, state = deps.store.transition(
            conversation_sid, lambda s: s.hold_failed(record.id, reason), create=False
        )

    def mark(r: TransferRecord) -> None:
        r.status, r.reason = TransferStatus.FAILED, reason

    deps.transfers.update(record.id, mark)
    if state is not None:
        drain(deps, state.sid, after=state)


def _steps_done(deps: Deps, record: TransferRecord, *steps: str, **values: Any) -> None:
    """Write the steps done (and the values they found) with this run's attempt, in one update."""
    attempts = record.attempts

    def mark(r: TransferRecord) -> None:
        for name, value in values.items():
            setattr(r, name, value)
        r.attempts = max(r.attempts, attempts)
        r.steps.extend(step for step in steps if step not in r.steps)

    deps.transfers.update(record.id, mark)
    mark(record)


def _orchestrate(deps: Deps, record: TransferRecord, *, retry: bool) -> None:
    try:
        original = deps.gateway.fetch_task(record.task_sid)
    except NotFound:
        raise TransferRefused(f"unknown task {record.task_sid}") from None
    conversation_sid = conversation_sid_in(original.attributes) or deps.store.conversation_of_task(
        record.task_sid
    )
    if conversation_sid is None:
        raise TransferRefused("the task is not a chat: its attributes name no conversationSid or channelSid")
    record.conversation_sid = conversation_sid

    if "hold" not in record.steps:
        if original.assignment_status != "assigned":
            raise TransferRefused(
                f"the task is {original.assignment_status}; only an assigned task can be transferred"
            )
        _open_hold(deps, record, original)
        _steps_done(deps, record, "hold", conversation_sid=conversation_sid)
    _checkpoint(deps, record, "hold")

    if "target" not in record.steps:  # written with `create`
        record.target_name = _target_name(deps, record.target_sid)
        record.strategy = _strategy(deps, original)
    _checkpoint(deps, record, "target")

    if "create" not in record.steps:
        task_sid = _create(deps, record, original, retry=retry)
        _steps_done(
            deps,
            record,
            "target",
            "create",
            target_name=record.target_name,
            strategy=record.strategy,
            transfer_task_sid=task_sid,
        )
    _checkpoint(deps, record, "create")

    if "track" not in record.steps:  # written at the end
        info = TransferInfo(record.id, record.mode, record.task_sid, record.target_name or "")
        task_sid = record.transfer_task_sid or ""
        policy = Unanswered(deps.settings.unanswered_transfer_action.value)
        now = deps.clock()
        _, state = deps.store.transition(
            conversation_sid,
            lambda s: s.hold_created(record.id, task_sid, transfer=info, policy=policy, now=now),
        )
        drain(deps, conversation_sid, after=state)
    _checkpoint(deps, record, "track")

    # The transfer task exists and is announced: from here a refusal is a warning, not a failure.
    if "original" not in record.steps:  # written at the end
        try:
            _write_chat_transfer_data(deps, record, original)
        except TwilioRejected as error:
            WorkerMetrics(deps.redis).step_failed("transfer-original", error.status)
            log.warning("chatTransferData not written", extra={"transfer_id": record.id, "error": str(error)})
    _checkpoint(deps, record, "original")

    if record.mode == "COLD" and "cold" not in record.steps:  # written at the end
        _take_first_agent_out(deps, record)

    last = ("track", "original", "cold", "done") if record.mode == "COLD" else ("track", "original", "done")
    _steps_done(deps, record, *last, status=TransferStatus.CREATED)
    log.info(
        "transfer created",
        extra={
            "transfer_id": record.id,
            "task_sid": record.task_sid,
            "transfer_task_sid": record.transfer_task_sid,
        },
    )


def _open_hold(deps: Deps, record: TransferRecord, original: TaskSnapshot) -> None:
    now = deps.clock()
    attributes = original.attributes
    # What rule 4 would put the customer back with, kept while the original task still exists.
    routing = customer_routing(attributes, original.workflow_sid, original.task_channel, original.priority)

    def hold(state: ConversationState) -> str | None:
        # The original task may not be tracked yet (its task.created still on the way); tracking
        # it first also calls off an end that was only waiting for TaskRouter's confirmation.
        state.track(record.task_sid, interaction=interaction_in(attributes), language=language_of(attributes))
        if state.ended is not None or state.customer_left:
            return "the chat has already ended"
        if state.tasks[record.task_sid].status != "inflight":
            return "the task being transferred has already ended"
        state.open_hold(record.id, "transfer", now)
        state.remember_routing(routing)
        return None

    refusal, _ = deps.store.transition(record.conversation_sid or "", hold)
    if refusal:
        raise TransferRefused(refusal)


def _target_name(deps: Deps, target_sid: str) -> str:
    try:
        if target_sid.startswith("WK"):
            return worker_card(deps, target_sid)["name"]
        return cached_card(deps, target_sid, lambda: {"name": deps.gateway.fetch_queue_name(target_sid)})[
            "name"
        ]
    except NotFound:
        raise TransferRefused(f"unknown transfer target {target_sid}") from None


def _strategy(deps: Deps, original: TaskSnapshot) -> str:
    has_interaction = interaction_in(original.attributes) is not None
    wanted = deps.settings.transfer_strategy
    if wanted is TransferStrategy.INVITE and not has_interaction:
        raise TransferRefused("the invite strategy needs flexInteractionSid and flexInteractionChannelSid")
    if wanted is TransferStrategy.TASK or (wanted is TransferStrategy.AUTO and not has_interaction):
        return "task"
    return "invite"


def _transferring_contact_uri(deps: Deps, record: TransferRecord, state: ConversationState | None) -> str:
    if state is not None:
        member = next(
            (m for m in state.members if m.task_sid == record.task_sid and m.state == "joined"), None
        )
        if member is not None:
            return f"client:{member.identity}"
    return (
        worker_card(deps, record.requested_by)["contact_uri"] if record.requested_by.startswith("WK") else ""
    )


def _create(deps: Deps, record: TransferRecord, original: TaskSnapshot, *, retry: bool) -> str:
    state = deps.store.load(record.conversation_sid or "")
    in_chat = sorted({m.worker_sid for m in state.agents_in_chat()}) if state else []
    attributes = transfer_task_attributes(
        original.attributes,
        original_task_sid=record.task_sid,
        record=record,
        target_name=record.target_name or "",
        transferring_contact_uri=_transferring_contact_uri(deps, record, state),
        workers_in_chat=in_chat,
    )
    settings = deps.settings
    workflow_sid = record.workflow_sid or settings.twilio_flex_chat_transfer_workflow_sid
    if record.strategy == "invite":
        return _create_by_invite(deps, record, original, attributes, workflow_sid, retry=retry)
    routing_target = record.target_sid if settings.transfer_routing_target_mode else None
    return create_task_once(
        deps.gateway,
        marker=("transferId", record.id),
        retry=retry,
        workflow_sid=None if routing_target else workflow_sid,
        task_channel=original.task_channel or "chat",
        attributes=attributes,
        priority=record.priority if record.priority is not None else original.priority,
        timeout=record.timeout,
        routing_target=routing_target,
    )


def _create_by_invite(
    deps: Deps,
    record: TransferRecord,
    original: TaskSnapshot,
    attributes: dict[str, Any],
    workflow_sid: str,
    *,
    retry: bool,
) -> str:
    """The invite's task is read from the invite's answer, not looked for in TaskRouter's listing
    (which may not show a task created a moment ago). A retry first looks for an invite an earlier
    attempt sent and lost the answer of, on the channel's own list of invites, then in TaskRouter."""
    interaction = interaction_in(original.attributes)
    assert interaction is not None
    if record.transfer_task_sid:  # the invite's answer was recorded
        return record.transfer_task_sid
    if retry or "invite" in record.steps:
        found = _created_before(deps, record, interaction)
        if found:
            return found
        if "invite" in record.steps:  # sent, answered without its task: not listed yet either
            raise InviteTaskNotYetVisible(record.id)
    properties: dict[str, Any] = {
        "workspace_sid": deps.settings.twilio_flex_workspace_sid,
        "workflow_sid": workflow_sid,
        "task_channel_unique_name": original.task_channel or "chat",
        "attributes": {**attributes, "transferId": record.id},
    }
    if record.priority is not None:
        properties["priority"] = record.priority
    if record.timeout is not None:
        properties["timeout"] = record.timeout
    task_sid = deps.gateway.create_invite(*interaction, {"properties": properties})
    _steps_done(deps, record, "invite", transfer_task_sid=task_sid)
    if task_sid is None:
        raise InviteTaskNotYetVisible(record.id)
    return task_sid


def _created_before(deps: Deps, record: TransferRecord, interaction: tuple[str, str] | None) -> str | None:
    """The transfer task an earlier run made and may not have recorded: among the invites on the
    chat's interaction channel (the invite strategy), then by its marker in TaskRouter."""
    found = deps.gateway.invited_tasks(*interaction, "transferId", record.id) if interaction else []
    found = found or deps.gateway.tasks_marked("transferId", record.id)
    return found[0] if found else None


def _write_chat_transfer_data(deps: Deps, record: TransferRecord, original: TaskSnapshot) -> None:
    snapshot = original
    for _ in range(IF_MATCH_ATTEMPTS):
        attributes = dict(snapshot.attributes)
        attributes["chatTransferData"] = {
            "transferTaskSid": record.transfer_task_sid,
            "transferType": record.mode,
        }
        if deps.settings.janitor_compat:
            attributes.pop("channelSid", None)
        if attributes == snapshot.attributes:
            return
        try:
            deps.gateway.update_task_attributes(record.task_sid, attributes, if_match=snapshot.revision)
            return
        except PreconditionFailed:
            snapshot = deps.gateway.fetch_task(record.task_sid)
    raise TwilioRejected(412, None, "the original task kept changing; chatTransferData not written")


def _take_first_agent_out(deps: Deps, record: TransferRecord) -> None:
    """A cold transfer is the first agent leaving the chat (the domain's `leave`: their task closed
    for the chat, `left` once; the outbox closes their interaction participant, or wraps their task
    up and takes them out of the conversation, which a REST wrap-up alone does not)."""
    conversation_sid = record.conversation_sid or ""
    _, state = deps.store.transition(conversation_sid, lambda s: s.leave(record.task_sid), create=False)
    drain(deps, conversation_sid, after=state)
