"""Putting the customer back in a queue when a transfer nobody took left them alone (rule 4)."""

from __future__ import annotations

from worker.domain.model import OutboxItem
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
)


def requeue(deps: Deps, conversation_sid: str, item: OutboxItem) -> None:
    hold_id = item.data["hold"]
    original = deps.gateway.fetch_task(item.data["from_task"])
    attributes = {k: v for k, v in original.attributes.items() if k not in TRANSFER_ATTRIBUTES}
    task_sid = create_task_once(
        deps.gateway,
        marker=("requeueOf", hold_id),
        retry=item.attempts > 0,
        workflow_sid=original.workflow_sid,
        task_channel=original.task_channel or "chat",
        attributes=attributes,
        priority=original.priority,
    )
    deps.store.transition(conversation_sid, lambda s: s.hold_created(hold_id, task_sid), create=False)
