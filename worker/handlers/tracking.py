"""Event handlers for the last-task rule, agents' joins and leaves, and the customer leaving.

Each handler takes a typed event and the adapters, applies one transition to the chat's state
(atomically, in the store) and then drains the chat's outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from worker.domain.events import (
    ConversationEvent,
    LeaveRequested,
    TaskRouterEvent,
    TrackTaskRequested,
    interaction_in,
)
from worker.domain.model import ConversationState, Unanswered
from worker.domain.notices import display_name, identity_of, language_of
from worker.handlers.deps import Deps
from worker.handlers.names import worker_card
from worker.handlers.outbox import drain
from worker.logs import log_context

log = logging.getLogger("chat_transfer.events")

RESERVATION_WITHDRAWN = {
    "reservation.rejected",
    "reservation.timeout",
    "reservation.canceled",
    "reservation.rescinded",
}


def _task_change(event: TaskRouterEvent, deps: Deps) -> Callable[[ConversationState], bool] | None:
    task_sid = event.task_sid
    if task_sid is None:
        return None
    kind = event.event_type
    if kind == "task.created":
        attributes = event.task_attributes
        return lambda s: s.track(
            task_sid, interaction=interaction_in(attributes), language=language_of(attributes)
        )
    reason = event.close_reason
    if reason is not None:
        policy = Unanswered(deps.settings.unanswered_transfer_action.value)
        return lambda s: s.close(task_sid, reason, policy=policy, now=deps.clock())
    if not kind.startswith("reservation.") or event.worker_sid is None:
        return None
    worker_sid = event.worker_sid
    identity = identity_of(event.worker_attributes) or worker_sid
    name = display_name(event.worker_attributes, deps.settings.default_agent_name)
    attributes = event.task_attributes

    def track_too(s: ConversationState) -> bool:
        # A reservation proves the task exists, whether or not its task.created came first.
        return s.track(task_sid, interaction=interaction_in(attributes), language=language_of(attributes))

    if kind == "reservation.created":
        return lambda s: track_too(s) | s.offered(identity, worker_sid, name, task_sid)
    if kind == "reservation.accepted":
        return lambda s: track_too(s) | s.accepted(identity, worker_sid, name, task_sid)
    if kind in RESERVATION_WITHDRAWN:
        return lambda s: s.withdrawn(identity, task_sid)
    return None


def handle_taskrouter_event(event: TaskRouterEvent, deps: Deps) -> str:
    change = _task_change(event, deps)
    if change is None:
        return "ignored"
    conversation_sid = event.conversation_sid
    if conversation_sid is None and event.task_sid:
        # Janitor compatibility strips channelSid before completion; the index still knows.
        conversation_sid = deps.store.conversation_of_task(event.task_sid)
    if conversation_sid is None:
        return "not a chat"
    # What proves a chat task exists starts tracking its chat; a withdrawn offer alone does not.
    create = event.event_type not in RESERVATION_WITHDRAWN
    return _apply(deps, event.event_type, conversation_sid, change, create=create, task_sid=event.task_sid)


def _apply(
    deps: Deps,
    event_type: str,
    conversation_sid: str,
    change: Callable[[ConversationState], bool],
    *,
    create: bool,
    task_sid: str | None = None,
) -> str:
    """One transition on the chat, one log line, then its outbox drained."""
    with log_context(conversation_sid=conversation_sid, task_sid=task_sid, event_type=event_type):
        return _apply_in_context(deps, event_type, conversation_sid, change, create=create, task_sid=task_sid)


def _apply_in_context(
    deps: Deps,
    event_type: str,
    conversation_sid: str,
    change: Callable[[ConversationState], bool],
    *,
    create: bool,
    task_sid: str | None,
) -> str:
    changed, state = deps.store.transition(conversation_sid, change, create=create)
    if state is None:
        return "untracked chat"
    log.info(
        "event handled",
        extra={
            "event_type": event_type,
            "conversation_sid": conversation_sid,
            "task_sid": task_sid,
            "changed": bool(changed),
        },
    )
    drain(deps, conversation_sid, after=state)
    return "applied" if changed else "no change"


def _conversation_change(event: ConversationEvent) -> Callable[[ConversationState], bool] | None:
    kind = event.event_type
    identity = event.identity
    if kind == "onParticipantAdded" and identity:
        return lambda s: s.participant_added(identity)
    if kind == "onParticipantRemoved" and identity:
        return lambda s: s.participant_removed(identity)
    if event.closes_the_conversation:
        return lambda s: s.conversation_closed(s.closer(event.source, event.client_identity, event.reason))
    return None


def handle_conversation_event(event: ConversationEvent, deps: Deps) -> str:
    change = _conversation_change(event)
    if change is None or event.conversation_sid is None:
        return "ignored"
    return _apply(deps, event.event_type, event.conversation_sid, change, create=False)


def handle_track_task(request: TrackTaskRequested, deps: Deps) -> str:
    """The Studio utility (seed): track a task on a chat before its task.created arrives."""
    return _apply(
        deps,
        "studio.track-task",
        request.conversation_sid,
        lambda s: s.track(request.task_sid),
        create=True,
        task_sid=request.task_sid,
    )


def handle_leave(request: LeaveRequested, deps: Deps) -> str:
    """`POST /tasks/<WT>/leave`, queued by the receiver: the agent leaves (rule 2 decides the end).

    The receiver found the agent on the task in TaskRouter; when their reservation.accepted has
    not reached the chat yet, their joining is applied first (from the worker's cached card), so
    the chat says they joined and left, and the leave knows whom to take out of the conversation."""
    task_sid, worker_sid = request.task_sid, request.worker_sid
    joined: tuple[str, str, str] | None = None
    state = deps.store.load(request.conversation_sid)
    known = state is not None and any(m.task_sid == task_sid for m in state.members)
    if worker_sid and not known:
        card = worker_card(deps, worker_sid)
        joined = (identity_of(card) or worker_sid, worker_sid, card["name"])

    def change(s: ConversationState) -> bool:
        accepted = s.accepted(*joined, task_sid) if joined else False
        return s.leave(task_sid) or accepted

    return _apply(deps, "leave", request.conversation_sid, change, create=True, task_sid=task_sid)
