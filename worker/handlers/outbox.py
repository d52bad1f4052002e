"""Working through a chat's outbox: the only place tracked state turns into Twilio calls.

One drainer at a time per chat, holding a **fenced lease** in the chat's state; items in the
order they were queued, one store transition each (the item's outcome, the next item taken and
its attempt counted, the lease renewed: `ConversationState.next_item`).

Exactly once when Twilio is slow (CONTRACT §6 rule 11; the argument is `worker.domain.lease`'s):
- a Twilio request leaves within the HTTP timeout T of the call (a connection made later is
  closed unsent) and we assume it takes effect, if ever, within S (`OUTBOX_SETTLE_SECONDS`);
- the drainer starts a call only if T + S from now is inside its lease, renewing the lease first
  when it is not (the lease is `LeaseTerms.ttl` = 2 T + S from each item, so a usual item needs
  no renewal); a renewal or any other write under a lease that was taken over raises `LeaseLost`
  and the drainer stops, having written nothing;
- so when another drainer takes the lease over, every request of the previous holder has landed
  or never will, and whatever may have happened is looked up before it is done again: a notice
  by its `noticeKey` (any item tried before: `attempts > 0`), a task by its marker, the end by
  its step (kept in the state) and the conversation's state (Twilio refuses to change a closed
  conversation, 50377, which reads as "closed");
- "Twilio answers after we gave up": a call that got no answer leaves its item's outcome
  unknown; the item then waits `not_before` = now + S before anyone looks it up or tries again,
  by which time the request has landed or never will.

Failures (rule 8, rule 9): a 4xx fails the item's step — logged, counted — and the rest goes on
(the end's check and notice are skipped; its close is tried again later unless Twilio says the
chat is closed or gone). A 429/5xx, no answer or any unexpected error is recorded on the item,
which is tried again when due: a `DRAIN_OUTBOX` job is sent for then (or, for a wait longer than
the broker can hold, reconciliation finds it); after `OUTBOX_MAX_ATTEMPTS` unexpected failures or
`TASK_MAX_RETRIES` transient ones the item is given up — a dead letter, listed by `chat-transfer
dead-letters` and retryable from there — except the end's close, which is never given up. Only
Redis trouble leaves the drain (to the caller's Celery retry): then the lease simply runs out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis

from worker.adapters.http_client import TwilioTransient
from worker.adapters.task_queue import DRAIN_OUTBOX
from worker.adapters.twilio_gateway import NotFound, TwilioRejected, conversation_is_closed
from worker.adapters.worker_metrics import WorkerMetrics
from worker.domain.errors import ServiceUnavailable
from worker.domain.lease import LeaseTerms
from worker.domain.model import (
    ClosedBy,
    ConversationState,
    EndStep,
    LeaseLost,
    NoticeType,
    OutboxItem,
    OutboxKind,
    RetryLimits,
    end_step,
)
from worker.domain.notices import notice_attributes, notice_text
from worker.domain.retry import backoff_seconds, countdown_limit
from worker.handlers.deps import Deps

log = logging.getLogger("chat_transfer.outbox")

CANCEL_REASON = "The customer left the chat"

Completion = Callable[[ConversationState], Any]


def lease_terms(deps: Deps) -> LeaseTerms:
    return LeaseTerms(deps.settings.twilio_http_timeout_seconds, deps.settings.outbox_settle_seconds)


def retry_limits(deps: Deps) -> RetryLimits:
    return RetryLimits(deps.settings.outbox_max_attempts, deps.settings.task_max_retries)


def drain(deps: Deps, conversation_sid: str, after: ConversationState | None = None) -> None:
    """Perform every queued effect of the chat that is due; raises only on Redis trouble.

    `after` is the chat as the caller's transition just stored it: with nothing queued there,
    there is nothing to drain (whoever queues an item drains it, or finds a drainer at work)."""
    if after is not None and not after.outbox:
        return
    _Drainer(deps, conversation_sid).run()


class LeasedGateway:
    """The gateway as one drainer sees it: before each call, the lease must outlast the call."""

    def __init__(self, gateway: Any, before_call: Callable[[], None]) -> None:
        self._gateway = gateway
        self._before_call = before_call

    @property
    def unguarded(self) -> Any:
        """The gateway itself (a drainer run inside a transfer job guards calls by its own lease)."""
        inner = self._gateway
        return inner.unguarded if isinstance(inner, LeasedGateway) else inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._gateway, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._before_call()
            return attribute(*args, **kwargs)

        return call


class _Drainer:
    def __init__(self, deps: Deps, conversation_sid: str) -> None:
        self.deps = deps
        self.sid = conversation_sid
        self.terms = lease_terms(deps)
        self.limits = retry_limits(deps)
        self.metrics = WorkerMetrics(deps.redis)
        gateway = deps.gateway
        self.gateway = LeasedGateway(
            gateway.unguarded if isinstance(gateway, LeasedGateway) else gateway, self._before_call
        )
        self.fence = 0
        self.until = 0.0
        self.failed_now = False

    # ---- the lease ------------------------------------------------------------------------------

    def _transition(self, change: Callable[[ConversationState], Any]) -> tuple[Any, ConversationState]:
        result, state = self.deps.store.transition(self.sid, change, create=False)
        if state is None:
            raise LeaseLost(f"{self.sid}: the chat is gone")
        if state.lease is not None and state.lease.fence == self.fence:
            self.until = state.lease.until
        return result, state

    def _before_call(self) -> None:
        now = self.deps.clock()
        if not self.terms.call_fits(now, self.until):
            self._transition(lambda s: s.renew_lease(self.fence, now, self.terms.ttl))

    # ---- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        now = self.deps.clock()

        def take(state: ConversationState) -> tuple[int, OutboxItem | None] | None:
            fence = state.acquire_lease(self.deps.owner, now, self.terms.ttl)
            if fence is None:
                return None
            return fence, state.next_item(fence, now, self.terms.ttl, self.limits)

        taken, state = self.deps.store.transition(self.sid, take, create=False)
        if not taken or state is None:
            return
        self.fence, item = taken
        self.until = state.lease.until if state.lease else now
        try:
            while item is not None:
                complete = self._attempt(item, state)
                item, state = self._transition(lambda s, c=complete: self._complete_and_next(s, c))
        except LeaseLost:
            log.info("outbox lease lost: its new holder goes on", extra={"conversation_sid": self.sid})
            self.metrics.count("outbox_leases_lost")
            return
        if self.failed_now:
            self._come_back(state)

    def _complete_and_next(self, state: ConversationState, complete: Completion) -> OutboxItem | None:
        state.check_fence(self.fence)
        complete(state)
        return state.next_item(self.fence, self.deps.clock(), self.terms.ttl, self.limits)

    def _come_back(self, state: ConversationState | None) -> None:
        """An item failed and waits: a drain job for when it is due (reconciliation, if later)."""
        if state is None or not state.outbox:
            return
        wait = max(0.0, state.outbox[0].not_before - self.deps.clock())
        if wait > countdown_limit(self.deps.settings.broker_visibility_timeout_seconds):
            return  # longer than the broker can hold a message: reconciliation re-drives it
        try:
            self.deps.queue.enqueue(DRAIN_OUTBOX, {"conversationSid": self.sid}, countdown=wait)
        except ServiceUnavailable:
            log.warning("drain not scheduled; reconciliation will", extra={"conversation_sid": self.sid})

    # ---- one attempt ----------------------------------------------------------------------------

    def _attempt(self, item: OutboxItem, state: ConversationState) -> Completion:
        """Try the item; return the transition that records how it went (under the fence).
        A wait is counted from when the failure is known: a request we gave up on may land up
        to S after that (it left no later), so `not_before` is then at least S away."""
        try:
            return self._perform(item, state)
        except (LeaseLost, redis.RedisError):
            raise
        except Exception as error:  # never silently acknowledged: logged, counted, retried, given up
            return self._failure(item, error, now=self.deps.clock())

    def _failure(self, item: OutboxItem, error: Exception, *, now: float) -> Completion:
        step = _step_name(item)
        first = self.deps.settings.retry_backoff_seconds
        context = {"conversation_sid": self.sid, "item": item.id, "step": step, "error": str(error)}
        if isinstance(error, TwilioRejected):
            log.warning("outbox step refused by Twilio", extra=context)
            self.metrics.step_failed(step, error.status)
            self.failed_now = True
            fence, reason = self.fence, str(error)
            closed = conversation_is_closed(error)
            closed_or_gone = closed or isinstance(error, NotFound)
            retry_at = now + backoff_seconds(item.attempts, first)

            def refused(s: ConversationState) -> None:
                s.check_fence(fence)
                if closed:
                    # Twilio says the conversation is closed, and nobody told us: rule 5 from here
                    # on, and nothing else is posted into it (a closed conversation refuses it).
                    s.conversation_closed(ClosedBy.OTHER)
                s.item_refused(fence, item.id, reason, closed_or_gone=closed_or_gone, retry_at=retry_at)

            return refused
        if isinstance(error, TwilioTransient):
            log.info("outbox step to be tried again", extra=context)
            self.metrics.step_failed(step, error.status)
            wait = backoff_seconds(item.failed, first)
            if error.status is None:  # no answer: it may still land; look only once it cannot
                wait = max(wait, self.terms.settle)
            retry_at = now + max(wait, error.retry_after or 0.0)
            return self._failed(item, _described(error), transient=True, retry_at=retry_at)
        log.error("outbox step failed unexpectedly", exc_info=error, extra=context)
        self.metrics.unexpected(f"outbox-{step}", error)
        retry_at = now + backoff_seconds(item.attempts - item.failed, first)
        return self._failed(item, _described(error), transient=False, retry_at=retry_at)

    def _failed(self, item: OutboxItem, error: str, *, transient: bool, retry_at: float) -> Completion:
        fence, limits, now = self.fence, self.limits, self.deps.clock()
        self.failed_now = True
        return lambda s: s.item_failed(
            fence, item.id, error, transient=transient, retry_at=retry_at, limits=limits, now=now
        )

    def _done(self, item: OutboxItem, outcome: Completion | None = None) -> Completion:
        """The item is done; `outcome` is what its effect found, recorded in the same transition."""
        fence = self.fence

        def done(s: ConversationState) -> None:
            s.check_fence(fence)
            if outcome is not None:
                outcome(s)
            s.item_done(fence, item.id)

        return done

    def _leased_deps(self) -> Deps:
        """The handlers' deps for an item's effect: their Twilio calls go through this lease."""
        return replace(self.deps, gateway=self.gateway)

    def _perform(self, item: OutboxItem, state: ConversationState) -> Completion:
        kind = OutboxKind(item.kind)
        if kind is OutboxKind.NOTICE:
            self._post_notice(state, item.id.split(":", 1)[1], item.data, retry=item.attempts > 0)
        elif kind is OutboxKind.MIRROR:
            # Off, or the end writes the attributes with the close, in one call: nothing to do.
            wanted = self.deps.settings.mirror_associated_tasks
            if (
                wanted
                and not any(o.kind == OutboxKind.END for o in state.outbox[1:])
                and self._mirror() == "closed"
            ):
                # Closed and nobody told us (no webhook for a REST close): rule 5 from here on.
                return self._done(item, lambda s: s.conversation_closed(ClosedBy.OTHER))
        elif kind is OutboxKind.END:
            return self._end(item, state)
        elif kind is OutboxKind.CANCEL_TASKS:
            self._cancel(state, item.data["tasks"])
        elif kind is OutboxKind.REQUEUE:
            from worker.handlers.requeue import requeue

            return self._done(item, requeue(self._leased_deps(), state, item))
        elif kind is OutboxKind.LEAVE:
            from worker.handlers.leave import leave

            leave(self._leased_deps(), state, item.data)
        return self._done(item)

    # ---- the effects ----------------------------------------------------------------------------

    def _post_notice(self, state: ConversationState, key: str, data: dict[str, Any], *, retry: bool) -> None:
        if retry and key in self.gateway.notice_keys_posted(state.sid):
            return
        params = {k: v for k, v in data.items() if k != "type"}
        kind = data["type"]
        self.gateway.post_message(
            state.sid, notice_text(kind, params, state.language), notice_attributes(key, kind, params)
        )

    def _merged_attributes(self) -> tuple[dict[str, Any], str]:
        attributes, conversation_state = self.gateway.conversation_attributes(self.sid)
        current = self.deps.store.load(self.sid)
        if current is not None:
            attributes["associatedTasks"] = {
                **attributes.get("associatedTasks", {}),
                **current.associated_tasks(),
            }
        return attributes, conversation_state

    def _mirror(self) -> str:
        attributes, conversation_state = self._merged_attributes()
        if conversation_state != "closed":  # a closed conversation takes no more changes
            self.gateway.update_conversation(self.sid, attributes=attributes)
        return conversation_state

    def _end(self, item: OutboxItem, state: ConversationState) -> Completion:
        step = end_step(item)
        if step is EndStep.CHECK:
            return self._check_end(item, state)
        if step is EndStep.NOTICE:
            if not state.customer_left:
                self._post_notice(
                    state, "chat-ended", {"type": str(NoticeType.CHAT_ENDED)}, retry=item.attempts > 0
                )
            return self._done(item)
        self._close(state, bare=bool(item.data.get("bare")))
        if state.ending_since is not None:
            self.metrics.observe_close(self.deps.clock() - state.ending_since)
        return self._done(item)

    def _check_end(self, item: OutboxItem, state: ConversationState) -> Completion:
        """Phase two of the end: what Flex and TaskRouter say before it is committed."""
        fence = self.fence
        if state.interaction and not state.customer_left:
            state = self._ask_flex(state)
            if state.ended != "ending":
                log.info(
                    "end called off: Flex keeps the chat open",
                    extra={"conversation_sid": state.sid, "kept_open": state.kept_open},
                )
                return lambda s: s.check_fence(fence)  # the end item went with the end
        still_open = (
            self.gateway.inflight_tasks_of(state.sid) if self.deps.settings.verify_end_with_taskrouter else []
        )
        closed = {sid for sid, task in state.tasks.items() if task.status == "closed"}
        untracked = [sid for sid in still_open if sid not in closed]

        def checked(s: ConversationState) -> None:
            if s.end_checked(fence, item.id, untracked):
                log.info("ending chat", extra={"conversation_sid": s.sid, "reason": s.end_reason})
            else:
                log.info("end called off", extra={"conversation_sid": s.sid, "untracked": untracked})

        return checked

    def _ask_flex(self, state: ConversationState) -> ConversationState:
        """Before a Flex Conversations chat is ended, what Flex did with its channel: kept it open
        on purpose (inactive, paused, parked: rule 12), or closed it already (an agent's End chat
        not heard of yet). One call, two when the channel is active (a park is marked in the
        conversation's attributes). Returns the chat as it is after what was seen."""
        assert state.interaction is not None
        status = self.gateway.interaction_channel_status(*state.interaction)
        attributes = self.gateway.conversation_attributes(state.sid)[0] if status == "active" else {}
        fence = self.fence
        _, after = self._transition(lambda s: (s.check_fence(fence), s.channel_seen(status, attributes)))
        return after

    def _close(self, state: ConversationState, *, bare: bool) -> None:
        """Close the chat, writing the final `associatedTasks` in the same call unless `bare`."""
        if bare or not self.deps.settings.mirror_associated_tasks:
            if state.interaction:
                self._close_interaction(state)
            elif not state.customer_left:
                self.gateway.update_conversation(state.sid, state="closed")
            return
        attributes, conversation_state = self._merged_attributes()
        if state.interaction:
            if conversation_state != "closed":
                self.gateway.update_conversation(state.sid, attributes=attributes)
            self._close_interaction(state)
        elif conversation_state != "closed":
            self.gateway.update_conversation(state.sid, attributes=attributes, state="closed")

    def _close_interaction(self, state: ConversationState) -> None:
        """Close the interaction channel (rule 2's end, or rule 5's way to cancel what still waits)."""
        assert state.interaction is not None
        try:
            self.gateway.close_interaction_channel(*state.interaction)
        except TwilioRejected as error:
            if not state.customer_left:
                raise
            # Closed by Flex already (an agent's End chat): nothing left to close.
            log.info(
                "interaction channel not closed", extra={"conversation_sid": state.sid, "error": str(error)}
            )

    def _cancel(self, state: ConversationState, task_sids: list[str]) -> None:
        if state.interaction:
            # Interaction tasks are not canceled through TaskRouter ("Best Practices": use the
            # Interactions Channels subresource); closing the channel cancels what still waits.
            self._close_interaction(state)
            return
        for task_sid in task_sids:
            try:
                self.gateway.set_task_status(task_sid, "canceled", CANCEL_REASON)
            except TwilioRejected as error:
                # Accepted or ended meanwhile: TaskRouter keeps it, and its own events close it here.
                log.info("task not canceled", extra={"task_sid": task_sid, "error": str(error)})


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _step_name(item: OutboxItem) -> str:
    return f"end-{end_step(item)}" if item.kind == OutboxKind.END else item.kind


def retry_dead_item(deps: Deps, conversation_sid: str, item: OutboxItem) -> str:
    """`chat-transfer dead-letters retry`: the given-up item back in its chat's outbox."""
    queued, state = deps.store.transition(conversation_sid, lambda s: s.requeue_given_up(item), create=False)
    if state is None:
        return "chat gone"
    drain(deps, conversation_sid, after=state)
    return "requeued" if queued else "already queued"
