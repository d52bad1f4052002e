"""Working through a chat's outbox: the only place tracked state turns into Twilio calls.

One drainer at a time per chat (a lease in the chat's state); items in the order they were
queued; each item idempotent on retry: a notice whose post may have gone out is looked up by
its `noticeKey` before it is posted again; the end is confirmed once and then only finished.

An item's attempt is counted before it is performed, in the transition that takes the lease
(for the first item) or finishes the item before it: one transition per item, not two.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from worker.adapters.http_client import TwilioTransient
from worker.adapters.twilio_gateway import TwilioRejected, conversation_is_closed
from worker.domain.model import ClosedBy, ConversationState, NoticeType, OutboxItem, OutboxKind
from worker.domain.notices import notice_attributes, notice_text
from worker.handlers.deps import Deps

log = logging.getLogger("chat_transfer.outbox")

LEASE_SECONDS = 60.0
CANCEL_REASON = "The customer left the chat"


def drain(deps: Deps, conversation_sid: str, after: ConversationState | None = None) -> None:
    """Perform every queued effect of the chat; raises TwilioTransient to be retried later.

    `after` is the chat as the caller's transition just stored it: with nothing queued there,
    there is nothing to drain (whoever queues an item drains it, or finds a drainer at work)."""
    if after is not None and not after.outbox:
        return
    store = deps.store

    def lease(state: ConversationState) -> list[OutboxItem] | None:
        taken = state.acquire_lease(deps.owner, deps.clock(), LEASE_SECONDS)
        if not taken:
            return None
        items = [replace(item) for item in taken]  # as they are: `attempts` before this one
        state.record_attempt(items[0].id)
        return items

    def finish(
        state: ConversationState, item: OutboxItem, later: list[OutboxItem], failure: TwilioRejected | None
    ) -> None:
        state.finish(deps.owner, item.id, failure=str(failure) if failure else None)
        if failure is not None and conversation_is_closed(failure):
            # Twilio says the conversation is closed, and nobody told us: rule 5 from here on,
            # and nothing else is posted into it (a closed conversation refuses it for ever).
            state.conversation_closed(ClosedBy.OTHER)
        queued = {queued.id for queued in state.outbox}
        following = next((other for other in later if other.id in queued), None)
        if following is not None:
            state.record_attempt(following.id)

    while True:
        items, state = store.transition(conversation_sid, lease, create=False)
        if not items or state is None:
            return
        current: ConversationState | None = state
        for n, item in enumerate(items):
            if current is None:
                return
            if all(queued.id != item.id for queued in current.outbox):
                continue  # dropped meanwhile: a notice for a conversation closed since
            failure = None
            try:
                _perform(deps, current, item, later=items[n + 1 :])
            except TwilioTransient:
                store.transition(conversation_sid, lambda s: s.release_lease(deps.owner), create=False)
                raise
            except TwilioRejected as error:
                log.warning(
                    "outbox item failed",
                    extra={"conversation_sid": conversation_sid, "item": item.id, "error": str(error)},
                )
                failure = error
            _, current = store.transition(
                conversation_sid,
                lambda s, i=item, later=items[n + 1 :], e=failure: finish(s, i, later, e),
                create=False,
            )
        if current is None or not current.outbox:
            return  # nothing was queued meanwhile


def _perform(deps: Deps, state: ConversationState, item: OutboxItem, later: list[OutboxItem]) -> None:
    kind = OutboxKind(item.kind)
    if kind is OutboxKind.NOTICE:
        _post_notice(deps, state, item.id.split(":", 1)[1], item.data, retry=item.attempts > 0)
    elif kind is OutboxKind.MIRROR:
        if not deps.settings.mirror_associated_tasks or any(other.kind == OutboxKind.END for other in later):
            return  # off, or the end writes the attributes with the close, in one call
        _mirror(deps, state.sid)
    elif kind is OutboxKind.END:
        _end(deps, state, item)
    elif kind is OutboxKind.CANCEL_TASKS:
        _cancel(deps, state, item.data["tasks"])
    elif kind is OutboxKind.REQUEUE:
        from worker.handlers.requeue import requeue

        requeue(deps, state.sid, item)
    elif kind is OutboxKind.LEAVE:
        from worker.handlers.leave import leave

        leave(deps, state, item.data)


def _post_notice(
    deps: Deps, state: ConversationState, key: str, data: dict[str, Any], *, retry: bool
) -> None:
    if retry and key in deps.gateway.notice_keys_posted(state.sid):
        return
    params = {k: v for k, v in data.items() if k != "type"}
    kind = data["type"]
    deps.gateway.post_message(
        state.sid, notice_text(kind, params, state.language), notice_attributes(key, kind, params)
    )


def _merged_attributes(deps: Deps, conversation_sid: str) -> tuple[dict[str, Any], str]:
    attributes, conversation_state = deps.gateway.conversation_attributes(conversation_sid)
    current = deps.store.load(conversation_sid)
    if current is not None:
        attributes["associatedTasks"] = {
            **attributes.get("associatedTasks", {}),
            **current.associated_tasks(),
        }
    return attributes, conversation_state


def _mirror(deps: Deps, conversation_sid: str) -> None:
    attributes, conversation_state = _merged_attributes(deps, conversation_sid)
    if conversation_state == "closed":
        # A closed conversation takes no more changes; it was closed by someone else if we
        # had not heard (no webhook for a REST close): rule 5 from here on.
        deps.store.transition(conversation_sid, lambda s: s.conversation_closed(ClosedBy.OTHER), create=False)
        return
    deps.gateway.update_conversation(conversation_sid, attributes=attributes)


def _end(deps: Deps, state: ConversationState, item: OutboxItem) -> None:
    if not item.data.get("confirmed"):
        if state.interaction and not state.customer_left:
            after = _ask_flex(deps, state)
            if after is None or after.ended != "ending":
                log.info(
                    "end called off: Flex keeps the chat open",
                    extra={"conversation_sid": state.sid, "kept_open": after and after.kept_open},
                )
                return
            state = after
        still_open = (
            deps.gateway.inflight_tasks_of(state.sid) if deps.settings.verify_end_with_taskrouter else []
        )
        closed = {sid for sid, task in state.tasks.items() if task.status == "closed"}
        untracked = [sid for sid in still_open if sid not in closed]

        def confirm(s: ConversationState) -> bool:
            current = next((i for i in s.outbox if i.id == item.id), None)
            if current is None:
                return False
            if s.confirm_end(untracked):
                current.data["confirmed"] = True
                return True
            return False

        confirmed, after = deps.store.transition(state.sid, confirm, create=False)
        if not confirmed or after is None:
            log.info("end called off", extra={"conversation_sid": state.sid, "untracked": untracked})
            return
        state = after
        log.info("ending chat", extra={"conversation_sid": state.sid, "reason": state.end_reason})
    if not state.customer_left:
        try:
            _post_notice(
                deps,
                state,
                "chat-ended",
                {"type": str(NoticeType.CHAT_ENDED)},
                retry=item.attempts > 0,
            )
        except TwilioRejected as error:
            if not conversation_is_closed(error):
                raise
            _, after = deps.store.transition(
                state.sid, lambda s: s.conversation_closed(ClosedBy.OTHER), create=False
            )
            state = after or state
    if not deps.settings.mirror_associated_tasks:
        if state.interaction:
            _close_interaction(deps, state)
        elif not state.customer_left:
            deps.gateway.update_conversation(state.sid, state="closed")
        return
    attributes, conversation_state = _merged_attributes(deps, state.sid)
    if state.interaction:
        if conversation_state != "closed":
            deps.gateway.update_conversation(state.sid, attributes=attributes)
        _close_interaction(deps, state)
    elif conversation_state != "closed":
        deps.gateway.update_conversation(state.sid, attributes=attributes, state="closed")


def _ask_flex(deps: Deps, state: ConversationState) -> ConversationState | None:
    """Before a Flex Conversations chat is ended, what Flex did with its channel: kept it open on
    purpose (inactive, paused, parked: rule 12), or closed it already (an agent's End chat not
    heard of yet). One call, two when the channel is active (a park is marked in the
    conversation's attributes). Returns the chat as it is after what was seen."""
    assert state.interaction is not None
    status = deps.gateway.interaction_channel_status(*state.interaction)
    attributes = deps.gateway.conversation_attributes(state.sid)[0] if status == "active" else {}
    _, after = deps.store.transition(state.sid, lambda s: s.channel_seen(status, attributes), create=False)
    return after


def _close_interaction(deps: Deps, state: ConversationState) -> None:
    """Close the interaction channel (rule 2's end, or rule 5's way to cancel what still waits)."""
    assert state.interaction is not None
    try:
        deps.gateway.close_interaction_channel(*state.interaction)
    except TwilioRejected as error:
        if not state.customer_left:
            raise
        # Closed by Flex already (an agent's End chat): nothing left to close.
        log.info("interaction channel not closed", extra={"conversation_sid": state.sid, "error": str(error)})


def _cancel(deps: Deps, state: ConversationState, task_sids: list[str]) -> None:
    if state.interaction:
        # Interaction tasks are not canceled through TaskRouter ("Best Practices": use the
        # Interactions Channels subresource); closing the channel cancels what still waits.
        _close_interaction(deps, state)
        return
    for task_sid in task_sids:
        try:
            deps.gateway.set_task_status(task_sid, "canceled", CANCEL_REASON)
        except TwilioRejected as error:
            # Accepted or ended meanwhile: TaskRouter keeps it, and its own events close it here.
            log.info("task not canceled", extra={"task_sid": task_sid, "error": str(error)})
