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
from worker.adapters.twilio_gateway import TwilioRejected
from worker.domain.model import ConversationState, NoticeType, OutboxItem, OutboxKind
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
        state: ConversationState, item: OutboxItem, following: OutboxItem | None, failure: str | None
    ) -> None:
        state.finish(deps.owner, item.id, failure=failure)
        if following is not None:
            state.record_attempt(following.id)

    while True:
        items, state = store.transition(conversation_sid, lease, create=False)
        if not items or state is None:
            return
        for n, item in enumerate(items):
            following = items[n + 1] if n + 1 < len(items) else None
            failure = None
            try:
                _perform(deps, state, item, later=items[n + 1 :])
            except TwilioTransient:
                store.transition(conversation_sid, lambda s: s.release_lease(deps.owner), create=False)
                raise
            except TwilioRejected as error:
                log.warning(
                    "outbox item failed",
                    extra={"conversation_sid": conversation_sid, "item": item.id, "error": str(error)},
                )
                failure = str(error)
            _, left = store.transition(
                conversation_sid,
                lambda s, i=item, f=following, e=failure: finish(s, i, f, e),
                create=False,
            )
        if left is None or not left.outbox:
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
        _cancel(deps, item.data["tasks"])
    elif kind is OutboxKind.REQUEUE:
        from worker.handlers.requeue import requeue

        requeue(deps, state.sid, item)


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
        return  # a closed conversation takes no more changes
    deps.gateway.update_conversation(conversation_sid, attributes=attributes)


def _end(deps: Deps, state: ConversationState, item: OutboxItem) -> None:
    if not item.data.get("confirmed"):
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

        confirmed, _ = deps.store.transition(state.sid, confirm, create=False)
        if not confirmed:
            log.info("end called off", extra={"conversation_sid": state.sid, "untracked": untracked})
            return
        log.info("ending chat", extra={"conversation_sid": state.sid, "reason": state.end_reason})
    if not state.customer_left:
        _post_notice(
            deps,
            state,
            "chat-ended",
            {"type": str(NoticeType.CHAT_ENDED)},
            retry=item.attempts > 0,
        )
    if not deps.settings.mirror_associated_tasks:
        if state.interaction:
            deps.gateway.close_interaction_channel(*state.interaction)
        elif not state.customer_left:
            deps.gateway.update_conversation(state.sid, state="closed")
        return
    attributes, conversation_state = _merged_attributes(deps, state.sid)
    if state.interaction:
        if conversation_state != "closed":
            deps.gateway.update_conversation(state.sid, attributes=attributes)
        deps.gateway.close_interaction_channel(*state.interaction)
    elif conversation_state != "closed":
        deps.gateway.update_conversation(state.sid, attributes=attributes, state="closed")


def _cancel(deps: Deps, task_sids: list[str]) -> None:
    for task_sid in task_sids:
        try:
            deps.gateway.set_task_status(task_sid, "canceled", CANCEL_REASON)
        except TwilioRejected as error:
            # Accepted or ended meanwhile: TaskRouter keeps it, and its own events close it here.
            log.info("task not canceled", extra={"task_sid": task_sid, "error": str(error)})
