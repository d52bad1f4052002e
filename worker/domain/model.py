"""The conversation's tracked state and its transitions: pure Python, no I/O.

One `ConversationState` per chat (`CH…`). Every event is one transition on it, applied
atomically by the store. A transition never talks to Twilio: it records what must be done in
the state's **outbox** (notices to post, the chat to end, tasks to cancel, the customer to
requeue, the attributes mirror to write), and a single drainer at a time (a lease in the same
state) performs them in order. So a redelivered or concurrent event cannot double an effect,
and a crash between "decided" and "done" leaves the work in the outbox for the next drain.

The drainer's lease is **fenced** (rule 11): each lease granted carries the next `fence` number,
and every write of a drainer — an item done, refused or failed, the next item taken, the lease
renewed — names its fence; a drainer whose lease was taken over meets `LeaseLost` and writes
nothing. An item counts its attempts (`attempts`, and `failed` for those ended by a transient
Twilio failure); one whose outcome is unknown waits out `not_before` before anyone looks it up or
tries it again. An item that keeps failing is given up (`RetryLimits`): it becomes a dead letter
and the rest of the outbox goes on — except the end, whose steps are skipped instead and whose
close is never given up (rule 9).

The rules (CONTRACT §6):
- a tracked task is `inflight` until it enters wrap-up or is completed, canceled or deleted;
  then `closed`, and closed is final: a late or repeated event never reopens it;
- the chat must end when at least one task was tracked, none is in flight, no hold (a transfer
  or requeue being set up) is open, and it has not ended yet — `must_end()`;
- ending is two-phase: `must_end()` opens an `end` outbox item; the drainer checks TaskRouter
  for in-flight tasks on the chat we never heard of, then `confirm_end()` commits exactly once;
- a decided end completes (rule 9): the end item's steps are `check` (TaskRouter), `notice`
  (`chat-ended`) and `close`; a check or notice that Twilio refuses (4xx) or that is given up is
  skipped, and the close is tried until Twilio closes the chat or says it is closed or gone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from worker.domain.compact import without_defaults

INFLIGHT = "inflight"
CLOSED = "closed"


class CloseReason(StrEnum):
    WRAPUP = "wrapup"
    COMPLETED = "completed"
    CANCELED = "canceled"
    DELETED = "deleted"
    TIMED_OUT = "timed-out"  # canceled by TaskRouter's TTL
    LEFT = "left"  # the agent left through the service (POST /tasks/<WT>/leave)
    CHAT_ALREADY_ENDED = "chat-already-ended"  # created on an ended chat; canceled in TaskRouter


UNANSWERED = (CloseReason.CANCELED, CloseReason.DELETED, CloseReason.TIMED_OUT)
ACCEPTED = ("joined", "left")  # a member's states once its agent took the task


class NoticeType(StrEnum):
    JOINED = "joined"
    LEFT = "left"
    TRANSFER_STARTED = "transfer-started"
    TRANSFER_FAILED = "transfer-failed"
    CHAT_ENDED = "chat-ended"


class OutboxKind(StrEnum):
    NOTICE = "notice"
    END = "end"
    CANCEL_TASKS = "cancel-tasks"
    REQUEUE = "requeue"
    MIRROR = "mirror"
    LEAVE = "leave"  # take an agent out of the chat as Flex's Leave does


class ClosedBy(StrEnum):
    """Who closed the conversation when the service did not (rule 5)."""

    CUSTOMER = "customer"
    AGENT = "agent"  # an agent's native End chat
    OTHER = "other"  # a REST call, a timer, or nobody said


class KeptOpen(StrEnum):
    """Why Flex keeps a chat with nothing in flight open on purpose (rule 12)."""

    INACTIVE = "inactive"  # Flex's Leave: the interaction channel is inactive
    PAUSE = "pause"  # Flex's Pause
    PARKED = "parked"  # parked (the Flex template's park-interaction)


class Unanswered(StrEnum):
    REQUEUE = "requeue"
    END = "end"


class EndStep(StrEnum):
    CHECK = "check"  # TaskRouter: nothing in flight on the chat that we never heard of?
    NOTICE = "notice"  # `chat-ended`, before the close (a closed conversation takes no messages)
    CLOSE = "close"  # the conversation (or the Flex interaction channel) closed


class LeaseLost(Exception):
    """The drainer's lease was taken over (or released): it may write nothing more."""


@dataclass(frozen=True)
class RetryLimits:
    """When the outbox gives an item up."""

    max_attempts: int = 5  # attempts not ended by a transient failure: an unexpected error, a crash
    max_transient: int = 12  # attempts ended by a transient failure (Twilio 429/5xx, no answer)


@dataclass
class TransferInfo:
    transfer_id: str
    mode: str  # WARM | COLD
    from_task: str
    target_name: str


@dataclass
class Routing:
    """How the customer's task was routed, kept once per chat when a transfer starts: what rule 4
    puts the customer back in a queue with, long after TaskRouter deleted that task."""

    workflow_sid: str | None = None
    task_channel: str = "chat"
    priority: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrackedTask:
    status: str = INFLIGHT
    reason: str | None = None
    assigned: bool = False  # a reservation was accepted: TaskRouter no longer lets it be canceled
    transfer: TransferInfo | None = None


@dataclass
class Member:
    """An agent's presence in the chat for one task: offered → joined → left."""

    identity: str
    worker_sid: str
    name: str
    task_sid: str
    state: str = "offered"  # offered | joined | left | withdrawn


@dataclass
class Hold:
    """Something about to create a task on this chat; the chat may not end while it is open."""

    kind: str  # transfer | requeue
    opened_at: float
    state: str = "open"  # open | created | failed | expired
    task_sid: str | None = None


@dataclass
class OutboxItem:
    id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0  # attempts begun (for the end: at its current step)
    failed: int = 0  # of them, those ended by a transient failure
    not_before: float = 0.0  # neither looked up nor tried again before (a settle window, a backoff)
    error: str | None = None  # why the last attempt failed

    def spent(self, limits: RetryLimits) -> bool:
        return self.attempts - self.failed >= limits.max_attempts or self.failed > limits.max_transient


def end_step(item: OutboxItem) -> EndStep:
    """The step an end item is at (an item stored before the steps read as one that was confirmed)."""
    if "step" in item.data:
        return EndStep(item.data["step"])
    return EndStep.NOTICE if item.data.get("confirmed") else EndStep.CHECK


@dataclass
class Lease:
    owner: str
    until: float
    fence: int = 0


@dataclass
class ConversationState:
    sid: str
    tasks: dict[str, TrackedTask] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    holds: dict[str, Hold] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # keys of every notice ever queued
    ended: str | None = None  # None | "ending" | "ended"
    end_reason: str | None = None
    customer_left: bool = False
    interaction: list[str] | None = None  # [KD…, UO…] for Flex Conversations chats
    language: str | None = None
    lease: Lease | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    # issue 15: the customer's routing for rule 4, who closed it (rule 5), Flex keeping it (rule 12)
    routing: Routing | None = None
    closed_by: str | None = None
    kept_open: str | None = None
    fence: int = 0  # the last lease's fence number
    ending_since: float | None = None  # when the end was decided (the last task's close)
    # What was given up since the state was loaded (dead letters, skipped end steps): taken out
    # by the store before the state is written, and kept where operators look.
    given_up: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)

    # ---- queries -----------------------------------------------------------------------------

    def inflight(self) -> list[str]:
        return [sid for sid, task in self.tasks.items() if task.status == INFLIGHT]

    def open_holds(self) -> list[str]:
        return [hid for hid, hold in self.holds.items() if hold.state == "open"]

    def must_end(self) -> bool:
        return self.ended is None and self.kept_open is None and self.must_end_ignoring_phase()

    def agents_in_chat(self) -> list[Member]:
        return [m for m in self.members if m.state == "joined"]

    # ---- tracking ----------------------------------------------------------------------------

    def track(
        self,
        task_sid: str,
        *,
        interaction: tuple[str, str] | None = None,
        language: str | None = None,
        transfer: TransferInfo | None = None,
    ) -> bool:
        """Start tracking a task (rule 1). Returns whether anything changed."""
        if interaction and not self.interaction:
            self.interaction = list(interaction)
        if language and not self.language:
            self.language = language
        existing = self.tasks.get(task_sid)
        if existing is not None:
            if transfer and existing.transfer is None:
                existing.transfer = transfer
                return True
            return False
        if self.ended == "ended":
            # A task created on a chat that already ended: keep it closed, do not reopen the chat,
            # and take it out of TaskRouter's queues so no agent is offered a closed chat.
            self.tasks[task_sid] = TrackedTask(
                status=CLOSED, reason=CloseReason.CHAT_ALREADY_ENDED, transfer=transfer
            )
            self._queue(OutboxKind.CANCEL_TASKS, "cancel", {"tasks": [task_sid]})
            return True
        # reservation.accepted may have outrun task.created: the agent already holds the task.
        assigned = self.member_on(task_sid) is not None
        self.tasks[task_sid] = TrackedTask(transfer=transfer, assigned=assigned)
        self.kept_open = None  # the task that resumes a chat Flex kept open: tracked as a first one
        if self.ended == "ending":
            self._abort_end()
        if self.customer_left and not assigned:
            # Rule 5 holds for a task we hear of only after the customer left, too.
            self._queue(OutboxKind.CANCEL_TASKS, "cancel", {"tasks": [task_sid]})
        self._queue_mirror()
        return True

    def close(
        self, task_sid: str, reason: CloseReason, *, policy: Unanswered = Unanswered.REQUEUE, now: float = 0.0
    ) -> bool:
        """Close a tracked task (rule 1) and apply the end rule (rule 2) and rule 4."""
        task = self.tasks.get(task_sid)
        if task is None:
            # Closed before we heard it was created: remember it closed, so a late
            # task.created cannot reopen it.
            task = self.tasks[task_sid] = TrackedTask(status=CLOSED, reason=reason)
        elif task.status == CLOSED:
            return False
        else:
            task.status = CLOSED
            task.reason = reason
        for member in self.members:
            if member.task_sid == task_sid:
                self._leave(member)
        if task.transfer and reason in UNANSWERED and not task.assigned:
            self._transfer_failed(task.transfer, policy, now)
        self._queue_mirror()
        self._consider_end(f"last task {task_sid} {reason}", now)
        return True

    # ---- agents ------------------------------------------------------------------------------

    def offered(self, identity: str, worker_sid: str, name: str, task_sid: str) -> bool:
        if self._member(identity, task_sid) is not None:
            return False
        self.members.append(Member(identity, worker_sid, name, task_sid))
        return True

    def accepted(self, identity: str, worker_sid: str, name: str, task_sid: str) -> bool:
        """reservation.accepted: the agent is on the task, and so in the chat."""
        task = self.tasks.get(task_sid)
        changed = False
        if task is not None and not task.assigned:
            task.assigned = True
            changed = True
        member = self._member(identity, task_sid)
        if member is None:
            member = Member(identity, worker_sid, name, task_sid)
            self.members.append(member)
            changed = True
        if task is not None and task.status == CLOSED:
            # Delivered after the task closed: the agent was in the chat meanwhile, and has left.
            joined = self._join(member)
            return self._leave(member) or joined or changed
        self._trim_routing()
        return self._join(member) or changed

    def withdrawn(self, identity: str, task_sid: str) -> bool:
        """The reservation was rejected, timed out or canceled: the offer is gone."""
        member = self._member(identity, task_sid)
        if member is None or member.state != "offered":
            return False
        member.state = "withdrawn"
        return True

    def participant_added(self, identity: str) -> bool:
        member = self._latest_member(identity, ("offered", "joined"))
        if member is None or self.tasks.get(member.task_sid, TrackedTask()).status == CLOSED:
            return False  # not an agent we know of (the customer, or a bot)
        return self._join(member)

    def participant_removed(self, identity: str) -> bool:
        member = self._latest_member(identity, ("joined",))
        return member is not None and self._leave(member)

    # ---- the customer ------------------------------------------------------------------------

    def customer_closed(self) -> bool:
        """The conversation was closed or removed from the customer's side (rule 5)."""
        return self.conversation_closed(ClosedBy.CUSTOMER)

    # ---- holds (transfers and requeues being set up) -----------------------------------------

    def open_hold(self, hold_id: str, kind: str, now: float) -> bool:
        if hold_id in self.holds:
            return False
        self.holds[hold_id] = Hold(kind=kind, opened_at=now)
        return True

    def hold_created(
        self,
        hold_id: str,
        task_sid: str,
        transfer: TransferInfo | None = None,
        *,
        policy: Unanswered = Unanswered.REQUEUE,
        now: float = 0.0,
    ) -> bool:
        """The hold produced its task: track it, then release the hold (in that order)."""
        changed = self.track(task_sid, transfer=transfer)
        hold = self.holds.get(hold_id)
        if hold is not None and hold.state == "open":
            hold.state, hold.task_sid = "created", task_sid
            changed = True
        if transfer is not None:
            changed = (
                self.notice(
                    f"transfer-started:{transfer.transfer_id}",
                    NoticeType.TRANSFER_STARTED,
                    targetName=transfer.target_name,
                    transferType=transfer.mode,
                )
                or changed
            )
            task = self.tasks[task_sid]
            if task.status == CLOSED and task.reason in UNANSWERED and not task.assigned:
                # The transfer task was canceled before the transfer could even be announced.
                self._transfer_failed(transfer, policy, now)
        self._consider_end("hold released", now)
        return changed

    def hold_failed(self, hold_id: str, reason: str, now: float | None = None) -> bool:
        hold = self.holds.get(hold_id)
        if hold is None or hold.state != "open":
            return False
        hold.state = "failed"
        self.failures.append({"hold": hold_id, "reason": reason})
        self._consider_end(f"hold {hold_id} failed", now)
        return True

    def expire_holds(self, now: float, max_age: float) -> list[str]:
        expired = [hid for hid, h in self.holds.items() if h.state == "open" and now - h.opened_at > max_age]
        for hid in expired:
            self.holds[hid].state = "expired"
        if expired:
            self._consider_end("holds expired", now)
        return expired

    # ---- notices -----------------------------------------------------------------------------

    def notice(self, key: str, kind: NoticeType, **params: str) -> bool:
        """Queue a notice once per key, ever."""
        if key in self.notices or self.ended == "ended" or self.customer_left:
            return False
        self.notices.append(key)
        self._queue(OutboxKind.NOTICE, key, {"type": str(kind), **params})
        return True

    # ---- ending --------------------------------------------------------------------------------

    def confirm_end(self, untracked_inflight: list[str]) -> bool:
        """Phase two of the end: `untracked_inflight` is what TaskRouter says is still open.

        Returns True exactly once per chat: the caller then posts `chat-ended` and closes it.
        Called by the drainer holding the lease; False (the end re-queued) while notices queued
        after it took its items are still to be posted.
        """
        if self.ended != "ending":
            return False
        fresh = [sid for sid in untracked_inflight if sid not in self.tasks]
        for sid in fresh:
            self.track(sid)
        if fresh or not self.must_end_ignoring_phase():
            self._abort_end()
            self._queue_mirror()
            return False
        if self.lease is not None and any(item.kind == OutboxKind.NOTICE for item in self.outbox):
            # A notice still queued was queued since the drainer took the end (ahead of it: see
            # `_queue`). It must be posted before `chat-ended` closes the chat: the end goes back
            # in line, behind it.
            self.outbox = [item for item in self.outbox if item.kind != OutboxKind.END]
            self._queue(OutboxKind.END, "end", {})
            return False
        self.ended = "ended"
        end = next((item for item in self.outbox if item.kind == OutboxKind.END), None)
        if end is not None:
            self._to_step(end, EndStep.CLOSE if self.customer_left else EndStep.NOTICE)
        return True

    def resume_end(self) -> bool:
        """An end decided (`ending`) with no end item left to carry it out — what a refused step
        of the end left behind before the end had steps — is queued again (reconciliation)."""
        if self.ended != "ending" or any(item.kind == OutboxKind.END for item in self.outbox):
            return False
        self._queue(OutboxKind.END, "end", {"step": str(EndStep.CHECK)})
        return True

    def must_end_ignoring_phase(self) -> bool:
        return bool(self.tasks) and not self.inflight() and not self.open_holds()

    # ---- outbox and its single, fenced drainer ----------------------------------------------

    def acquire_lease(self, owner: str, now: float, ttl: float) -> int | None:
        """A fence number for a new drainer, or None: nothing is due, or a live lease is held."""
        if not self.outbox or self.outbox[0].not_before > now:
            return None
        if self.lease and self.lease.until > now:
            return None
        self.fence += 1
        self.lease = Lease(owner, now + ttl, self.fence)
        return self.fence

    def check_fence(self, fence: int) -> None:
        """Raise `LeaseLost` unless the lease is still the one numbered `fence`."""
        if self.lease is None or self.lease.fence != fence:
            raise LeaseLost(f"{self.sid}: lease {fence} is gone")

    def renew_lease(self, fence: int, now: float, ttl: float) -> float:
        self.check_fence(fence)
        assert self.lease is not None
        self.lease.until = max(self.lease.until, now + ttl)
        return self.lease.until

    def release_lease(self, fence: int) -> None:
        if self.lease and self.lease.fence == fence:
            self.lease = None

    def next_item(self, fence: int, now: float, ttl: float, limits: RetryLimits) -> OutboxItem | None:
        """The item to try now, as it was before this attempt (its attempt is counted and the lease
        renewed for it); None, and the lease released, when the outbox is empty or its first item
        is not due yet. Items are tried in order; one that has used up its attempts is given up."""
        self.check_fence(fence)
        while self.outbox:
            head = self.outbox[0]
            if head.not_before > now:
                break
            if head.spent(limits):
                self._give_up(head, now)
                continue
            before = copy.deepcopy(head)
            head.attempts += 1
            self.renew_lease(fence, now, ttl)
            return before
        self.lease = None
        return None

    def item_done(self, fence: int, item_id: str) -> None:
        """The item's effect happened (for the end: its current step did)."""
        self.check_fence(fence)
        item = self._item(item_id)
        if item is None:
            return
        if item.kind == OutboxKind.END:
            step = end_step(item)
            if step is EndStep.CHECK:
                raise ValueError("an end's check completes with `end_checked`")
            if step is EndStep.NOTICE:
                self._to_step(item, EndStep.CLOSE)
                return
        self.outbox.remove(item)

    def end_checked(self, fence: int, item_id: str, untracked_inflight: list[str]) -> bool:
        """Phase two of the end, by the drainer: `confirm_end` with what TaskRouter said."""
        self.check_fence(fence)
        if self._item(item_id) is None:
            return False
        return self.confirm_end(untracked_inflight)

    def item_refused(
        self, fence: int, item_id: str, reason: str, *, closed_or_gone: bool, retry_at: float
    ) -> None:
        """Twilio refused the item's call with a 4xx (rule 8): that step fails and the rest goes
        on. The end's check and notice are skipped; its close is done if Twilio says the chat is
        closed or gone (`closed_or_gone`), and otherwise tried again from `retry_at` (rule 9)."""
        self.check_fence(fence)
        item = self._item(item_id)
        if item is None:
            return
        self.failures.append({"item": item_id, "reason": reason})
        if item.kind == OutboxKind.END:
            step = end_step(item)
            if step is EndStep.CLOSE and not closed_or_gone:
                item.error, item.not_before = reason, retry_at
            elif step is EndStep.CLOSE:
                self.outbox.remove(item)
            else:
                self._skip_end_step(item, reason, now=retry_at, record=False)
            return
        self.outbox.remove(item)
        if item.kind == OutboxKind.REQUEUE:
            self.hold_failed(item.data["hold"], reason)

    def item_failed(
        self,
        fence: int,
        item_id: str,
        error: str,
        *,
        transient: bool,
        retry_at: float,
        limits: RetryLimits,
        now: float,
    ) -> None:
        """The attempt failed without a verdict from Twilio (429/5xx, no answer: `transient`) or
        with an unexpected error: the item waits until `retry_at`, or is given up if it is spent."""
        self.check_fence(fence)
        item = self._item(item_id)
        if item is None:
            return
        item.failed += int(transient)
        item.error, item.not_before = error, retry_at
        if item.spent(limits):
            self._give_up(item, now)

    def requeue_given_up(self, item: OutboxItem) -> bool:
        """An operator retries a dead letter: the item goes back in line, its counts reset."""
        if self._item(item.id) is not None:
            return False
        again = OutboxItem(id=item.id, kind=item.kind, data=dict(item.data))
        end = next((i for i, queued in enumerate(self.outbox) if queued.kind == OutboxKind.END), None)
        self.outbox.insert(len(self.outbox) if end is None else end, again)
        return True

    def pending_work(self) -> bool:
        return bool(self.outbox)

    def _item(self, item_id: str) -> OutboxItem | None:
        return next((item for item in self.outbox if item.id == item_id), None)

    def _to_step(self, item: OutboxItem, step: EndStep) -> None:
        item.data = {**{k: v for k, v in item.data.items() if k != "confirmed"}, "step": str(step)}
        item.attempts = item.failed = 0
        item.error = None

    def _give_up(self, item: OutboxItem, now: float) -> None:
        reason = item.error or "no attempt finished (the worker was lost)"
        if item.kind == OutboxKind.END:
            if end_step(item) is not EndStep.CLOSE:
                self._skip_end_step(item, f"given up: {reason}", now=now, record=True)
            else:
                # Never given up (rule 9): tried again, without the attributes mirror it carries
                # when that is what keeps failing.
                item.data["bare"] = True
                item.attempts = item.failed = 0
                self.given_up.append(
                    {"item": copy.deepcopy(item), "error": reason, "at": now, "skipped": True}
                )
            return
        self.outbox.remove(item)
        self.failures.append({"item": item.id, "reason": f"given up: {reason}"})
        self.given_up.append({"item": copy.deepcopy(item), "error": reason, "at": now, "skipped": False})
        if item.kind == OutboxKind.REQUEUE:
            self.hold_failed(item.data["hold"], f"requeue given up: {reason}", now)

    def _skip_end_step(self, item: OutboxItem, reason: str, *, now: float, record: bool) -> None:
        step = end_step(item)
        if record:
            self.failures.append({"item": item.id, "reason": reason})
        self.given_up.append({"item": copy.deepcopy(item), "error": reason, "at": now, "skipped": True})
        if step is EndStep.CHECK:
            if not self.confirm_end([]):  # what the state itself knows decides
                return
            item = self._item(item.id) or item
            item.not_before = 0.0
        else:
            self._to_step(item, EndStep.CLOSE)

    # ---- internals ---------------------------------------------------------------------------

    def member_on(self, task_sid: str) -> Member | None:
        """The agent who accepted `task_sid`: in the chat on it, or since left it."""
        return next((m for m in self.members if m.task_sid == task_sid and m.state in ACCEPTED), None)

    def _member(self, identity: str, task_sid: str) -> Member | None:
        return next((m for m in self.members if m.identity == identity and m.task_sid == task_sid), None)

    def _latest_member(self, identity: str, states: tuple[str, ...]) -> Member | None:
        return next((m for m in reversed(self.members) if m.identity == identity and m.state in states), None)

    def _join(self, member: Member) -> bool:
        if member.state in ACCEPTED:
            return False
        member.state = "joined"
        self.notice(f"joined:{member.task_sid}:{member.identity}", NoticeType.JOINED, workerName=member.name)
        return True

    def _leave(self, member: Member) -> bool:
        if member.state != "joined":
            if member.state == "offered":
                member.state = "withdrawn"
            return False
        member.state = "left"
        self.notice(f"left:{member.task_sid}:{member.identity}", NoticeType.LEFT, workerName=member.name)
        return True

    def _transfer_failed(self, transfer: TransferInfo, policy: Unanswered, now: float) -> None:
        self.notice(
            f"transfer-failed:{transfer.transfer_id}",
            NoticeType.TRANSFER_FAILED,
            targetName=transfer.target_name,
            transferType=transfer.mode,
        )
        if self.inflight() or self.customer_left or policy is Unanswered.END:
            return  # someone is still in the chat, or the chat is to end (rule 4)
        hold_id = f"requeue:{transfer.transfer_id}"
        if self.open_hold(hold_id, "requeue", now):
            self._queue(OutboxKind.REQUEUE, hold_id, {"hold": hold_id, "from_task": transfer.from_task})

    def _consider_end(self, reason: str, now: float | None = None) -> None:
        self._trim_routing()
        if self.must_end():
            self.ended = "ending"
            self.end_reason = reason
            self._explain_end()
            self.ending_since = now or None
            self._queue(OutboxKind.END, "end", {"step": str(EndStep.CHECK)})

    def _abort_end(self) -> None:
        self.ended = None
        self.end_reason = None
        self.ending_since = None
        self.outbox = [item for item in self.outbox if item.kind != OutboxKind.END]

    def _queue_mirror(self) -> None:
        if not any(item.kind == OutboxKind.MIRROR for item in self.outbox):
            self._queue(OutboxKind.MIRROR, "mirror", {})

    def _queue(self, kind: OutboxKind, key: str, data: dict[str, Any]) -> None:
        self.seq += 1
        item = OutboxItem(id=f"{self.seq}:{key}", kind=str(kind), data=data)
        end = next((i for i, queued in enumerate(self.outbox) if queued.kind == OutboxKind.END), None)
        if end is None or kind is OutboxKind.END:
            self.outbox.append(item)
        else:
            # The end stays last: whatever is queued while it is pending is done before it.
            self.outbox.insert(end, item)

    def associated_tasks(self) -> dict[str, str]:
        """The Flex template's `associatedTasks` format."""
        return {sid: "inflight" if t.status == INFLIGHT else "completed" for sid, t in self.tasks.items()}

    # ---- Flex as it is (issue 15): agents leave, others close the chat, Flex keeps it open ----

    def leave(self, task_sid: str) -> bool:
        """The agent on `task_sid` leaves the chat through the service (as Flex's Leave does): the
        task closes for the chat at once (rule 1), `left` is said once, the leave itself is queued
        for the drainer, and the chat ends only if that was its last task (rule 2). One transition:
        two agents leaving at the same moment are two transitions, and the later one ends it."""
        task = self.tasks.get(task_sid)
        if task is not None and task.status == CLOSED:
            return False
        member = next(
            (m for m in self.members if m.task_sid == task_sid and m.state in ("offered", "joined")), None
        )
        data: dict[str, Any] = {"task": task_sid}
        if member is not None:
            # A leave proves the agent accepted (reservation.accepted may still be on its way).
            self._join(member)
            data["identity"] = member.identity
        self._queue(OutboxKind.LEAVE, f"leave:{task_sid}", data)
        if task is None:
            self.tasks[task_sid] = TrackedTask(assigned=True)
        return self.close(task_sid, CloseReason.LEFT)

    def closer(self, source: str | None, client_identity: str | None, reason: str | None) -> ClosedBy:
        """Who closed the conversation, from its webhook's `Source`, `ClientIdentity` and `Reason`.

        A Conversations SDK close names its user: an agent of this chat, else the customer. Flex's
        End chat on a Flex Conversations chat closes the interaction channel, which the webhook
        shows as an API change naming nobody: closed while an agent held the chat, it counts as
        the agent's. A timer, any other REST call, or a webhook naming no source: someone else."""
        if reason == "TIMER":
            return ClosedBy.OTHER
        if source == "SDK":
            agents = {m.identity for m in self.members}
            return ClosedBy.AGENT if client_identity in agents else ClosedBy.CUSTOMER
        if source == "API" and self.interaction and any(t.assigned for t in self.tasks.values()):
            return ClosedBy.AGENT
        return ClosedBy.OTHER

    def conversation_closed(self, by: ClosedBy) -> bool:
        """The conversation was closed (or removed) by someone other than the service (rule 5):
        tasks still waiting are canceled and nothing more is posted into it. Who did it is
        recorded once, and only made more precise later (a webhook naming nobody, then one that
        names the agent). The service's own close, echoed back after its end, is not recorded."""
        if self.customer_left:
            if self.closed_by == ClosedBy.OTHER and by != ClosedBy.OTHER:
                self.closed_by = by
                self._explain_end()
                return True
            return False
        self.customer_left = True
        if self.ended != "ended":
            self.closed_by = by
            self._explain_end()
        # Nothing more goes into it: no notice, and no customer requeued into a closed chat.
        requeues = [item for item in self.outbox if item.kind == OutboxKind.REQUEUE]
        self.outbox = [
            item for item in self.outbox if item.kind not in (OutboxKind.NOTICE, OutboxKind.REQUEUE)
        ]
        for item in requeues:
            hold = self.holds.get(item.data["hold"])
            if hold is not None and hold.state == "open":
                hold.state = "failed"
        waiting = [sid for sid in self.inflight() if not self.tasks[sid].assigned]
        if waiting and self.ended != "ended":
            self._queue(OutboxKind.CANCEL_TASKS, "cancel", {"tasks": waiting})
        self._consider_end("the conversation closed")
        return True

    def remember_routing(self, routing: Routing) -> bool:
        """Keep the customer's routing when a transfer starts: its workflow, channel and priority
        once per chat (the first transfer's original task is the customer's); its attributes
        while a transfer could still fail into a requeue (any task's attributes on the chat are
        the customer's, once what transfers add is taken out)."""
        if self.routing is None:
            self.routing = routing
            return True
        if not self.routing.attributes and routing.attributes:
            self.routing.attributes = dict(routing.attributes)
            return True
        return False

    def _trim_routing(self) -> None:
        """The routing's attributes (most of its bytes) are dropped once nothing can requeue: no
        transfer task waiting to be taken, no transfer or requeue being set up."""
        if self.routing is None or not self.routing.attributes or self.open_holds():
            return
        waiting = any(t.status == INFLIGHT and t.transfer and not t.assigned for t in self.tasks.values())
        if not waiting:
            self.routing.attributes = {}

    def kept_open_by_flex(self, why: KeptOpen) -> bool:
        """The drainer found, before confirming the end, that Flex keeps the chat open on purpose
        (Leave, Pause, Park: rule 12): the end is called off and the chat stays tracked; the task
        that resumes it is tracked as a first one (`track`)."""
        if self.ended != "ending":
            return False
        self._abort_end()
        self.kept_open = str(why)
        return True

    def channel_seen(self, status: str, conversation_attributes: dict[str, Any]) -> bool:
        """What the drainer read of a Flex Conversations chat's interaction channel (and, when it
        is active, of the conversation's attributes) before it confirms the end."""
        if status == "closed":  # Flex closed it (an agent's End chat) before we heard
            return self.conversation_closed(self.closer("API", None, None))
        why = self.kept_open_reason(status, conversation_attributes)
        return why is not None and self.kept_open_by_flex(why)

    def kept_open_reason(self, status: str, conversation_attributes: dict[str, Any]) -> KeptOpen | None:
        """Flex's Leave leaves the channel `inactive` and Pause `pause` ("Leave and pause options
        for Conversations"); a park leaves it `active` with the agent out, and the Flex template's
        park-interaction writes what resumes it into the conversation's attributes (the parked
        `taskSid`, `interactionSid`, `taskAttributes`...). A park is current while that task is the
        chat's latest: the task that unparks it comes after."""
        if status == "inactive":
            return KeptOpen.INACTIVE
        if status == "pause":
            return KeptOpen.PAUSE
        marked = conversation_attributes.get("taskSid")
        parked = (
            status == "active"
            and isinstance(marked, str)
            and bool(conversation_attributes.get("interactionSid"))
            and "taskAttributes" in conversation_attributes
            and list(self.tasks)[-1:] == [marked]
        )
        return KeptOpen.PARKED if parked else None

    def _explain_end(self) -> None:
        if self.ended == "ending" and self.customer_left:
            self.end_reason = (
                "customer left" if self.closed_by == ClosedBy.CUSTOMER else f"closed by the {self.closed_by}"
            )

    # ---- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The stored form: fields equal to their defaults (an in-flight task's status, a member
        still offered, no lease, no failures…) are left out; `from_dict` restores them."""
        return without_defaults(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        """Reads the stored form, and the older one that names every field."""
        data = dict(data)
        data["tasks"] = {
            sid: TrackedTask(
                **{**t, "transfer": TransferInfo(**t["transfer"]) if t.get("transfer") else None}
            )
            for sid, t in data.get("tasks", {}).items()
        }
        data["members"] = [Member(**m) for m in data.get("members", [])]
        data["holds"] = {hid: Hold(**h) for hid, h in data.get("holds", {}).items()}
        data["outbox"] = [OutboxItem(**o) for o in data.get("outbox", [])]
        data["lease"] = Lease(**data["lease"]) if data.get("lease") else None
        data["routing"] = Routing(**data["routing"]) if data.get("routing") else None
        if data.get("customer_left") and "closed_by" not in data and data.get("ended") != "ended":
            data["closed_by"] = ClosedBy.CUSTOMER  # stored before issue 15: the customer's close
        data.pop("given_up", None)
        return cls(**data)
