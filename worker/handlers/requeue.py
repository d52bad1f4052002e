"""Putting the customer back in a queue when a transfer nobody took left them alone (rule 4).

What it needs is the customer's routing, which the chat keeps from the moment a transfer starts
(`ConversationState.routing`): TaskRouter deletes a task five minutes after it is completed or
canceled, and a cold transfer completed the original long before its transfer times out. Only a
chat tracked before the routing was kept falls back to reading the original task; if that is gone
too, the requeue fails at once (the chat then ends: there is nothing to requeue with).

A Flex Conversations chat is put back through the Interactions API: an invite on its channel to
the original workflow with the original attributes ("Invites Subresource": "to send an
interaction to a queue"; "Park an Interaction": invites do not carry the original task's
attributes over, so they are sent). A bare TaskRouter task would route, but its agent would never
join the conversation. Either way the new task carries `requeueOf` = the hold, which a retry
looks for before it makes another. A chat closed meanwhile (an agent's End chat, heard of later)
is not requeued into: the older chat's conversation is read first, and an interaction channel
refuses the invite.

It runs as an outbox item: what it finds (the task made, or why none could be) is returned as the
change the drainer records with the item, under its fenced lease.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.adapters.http_client import TwilioTransient
from worker.adapters.twilio_gateway import NotFound, TwilioRejected
from worker.domain.model import ClosedBy, ConversationState, OutboxItem, Routing
from worker.handlers.deps import Deps
from worker.handlers.task_creation import create_task_once

TRANSFER_ATTRIBUTES = (
    "transferTargetSid",
    "transferTargetType",
    "transferQueueName",
    "ignoreWorkerContactUri",
    "transferredFromTaskSid",
    "transferType",
    "transferId",
    "chatTransferData",
    "workerSidsInConversation",
    "requeueOf",
)
MARKER = "requeueOf"


def customer_routing(
    attributes: dict[str, Any], workflow_sid: str | None, task_channel: str | None, priority: int | None
) -> Routing:
    """What rule 4 routes the customer with: the task's routing, without what a transfer added."""
    return Routing(
        workflow_sid=workflow_sid,
        task_channel=task_channel or "chat",
        priority=priority or None,
        attributes={k: v for k, v in attributes.items() if k not in TRANSFER_ATTRIBUTES},
    )


def requeue(deps: Deps, state: ConversationState, item: OutboxItem) -> Callable[[ConversationState], Any]:
    """Put the customer back in a queue (once: a retry finds the task by its marker); returns
    what to record on the chat: the hold released with its task, or failed, or rule 5."""
    hold_id = item.data["hold"]
    routing = state.routing
    if routing is None or not routing.attributes:
        try:
            original = deps.gateway.fetch_task(item.data["from_task"])
        except NotFound:
            reason = f"cannot requeue: the original task {item.data['from_task']} is gone"
            return lambda s: s.hold_failed(hold_id, reason)
        routing = customer_routing(
            original.attributes, original.workflow_sid, original.task_channel, original.priority
        )
    retry = item.attempts > 0
    if state.interaction:
        try:
            task_sid = _invite_once(
                deps, (state.interaction[0], state.interaction[1]), hold_id, routing, retry
            )
        except TwilioRejected as error:
            # The channel refuses it (closed by Flex meanwhile): nobody to requeue into; the end,
            # released by the failed hold, reads the channel and learns who closed it.
            reason = f"cannot requeue: {error}"
            return lambda s: s.hold_failed(hold_id, reason)
    else:
        if _closed(deps, state.sid):
            # Closed without a webhook yet (an agent's End chat, a REST call): a task would route
            # an agent into a closed chat. Rule 5 instead, which calls the requeue off.
            return lambda s: s.conversation_closed(ClosedBy.OTHER)
        task_sid = create_task_once(
            deps.gateway,
            marker=(MARKER, hold_id),
            retry=retry,
            workflow_sid=routing.workflow_sid,
            task_channel=routing.task_channel,
            attributes=routing.attributes,
            priority=routing.priority,
        )
    return lambda s: s.hold_created(hold_id, task_sid)


def _closed(deps: Deps, conversation_sid: str) -> bool:
    try:
        return deps.gateway.conversation_attributes(conversation_sid)[1] == "closed"
    except NotFound:
        return True


def _invite_once(
    deps: Deps, interaction: tuple[str, str], hold_id: str, routing: Routing, retry: bool
) -> str:
    gateway = deps.gateway
    if retry:
        found = gateway.invited_tasks(*interaction, MARKER, hold_id) or gateway.tasks_marked(MARKER, hold_id)
        if found:
            return found[0]
    properties: dict[str, Any] = {
        "workspace_sid": deps.settings.twilio_flex_workspace_sid,
        "workflow_sid": routing.workflow_sid,
        "task_channel_unique_name": routing.task_channel,
        "attributes": {**routing.attributes, MARKER: hold_id},
    }
    if routing.priority is not None:
        properties["priority"] = routing.priority
    task_sid = gateway.create_invite(*interaction, {"properties": properties})
    if task_sid is None:
        # Sent, but the answer names no task: retried, the invite is found by its marker.
        raise TwilioTransient(None, 1.0)
    return task_sid
