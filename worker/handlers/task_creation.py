"""Creating a TaskRouter task at most once, across crashes and retries.

The new task carries a marker attribute; a retried attempt first looks for a task with that
marker (TaskRouter's EvaluateTaskAttributes), and only creates one when there is none.
"""

from __future__ import annotations

from typing import Any

from worker.adapters.twilio_gateway import TwilioGateway


def create_task_once(
    gateway: TwilioGateway,
    *,
    marker: tuple[str, str],
    retry: bool,
    workflow_sid: str | None,
    task_channel: str,
    attributes: dict[str, Any],
    priority: int | None = None,
    timeout: int | None = None,
    routing_target: str | None = None,
) -> str:
    name, value = marker
    if retry:
        existing = gateway.tasks_marked(name, value)
        if existing:
            return existing[0]
    return gateway.create_task(
        workflow_sid=workflow_sid,
        task_channel=task_channel,
        attributes={**attributes, name: value},
        priority=priority,
        timeout=timeout,
        routing_target=routing_target,
    )
