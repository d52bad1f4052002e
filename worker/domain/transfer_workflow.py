"""The "Chat Transfer" TaskRouter workflow the seed describes, as data (pure: no I/O).

A transfer task carries `transferTargetType`, `transferTargetSid`, `transferQueueName` and
`ignoreWorkerContactUri` (CONTRACT §5). The workflow routes it:

1. `transferTargetType == 'worker'` → known-worker routing on `task.transferTargetSid`, through
   the Everyone queue (a known worker must be in the target's queue);
2. one rule per task queue, `transferQueueName == '<queue name>'` → that queue, offered to anyone
   in it but the transferring agent (`worker.contact_uri != task.ignoreWorkerContactUri`);
3. anything else falls to the Everyone queue.

`chat-transfer setup --create-workflow` builds it from the live queue list, each target timed out
after TRANSFER_TIMEOUT_SECONDS (the transfer task's own Timeout); re-run after a queue is added, it
yields the new rule and nothing else changes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

WORKFLOW_NAME = "Chat Transfer"
EVERYONE_QUEUE = "Everyone"
WORKER_RULE_NAME = "Assign to Worker"
QUEUE_RULE_PREFIX = "Assign To Queue - "
EXCLUDE_TRANSFERRING_AGENT = "worker.contact_uri != task.ignoreWorkerContactUri"


class WorkflowConfigError(ValueError):
    pass


def expression_string(value: str) -> str:
    """A TaskRouter expression string literal for `value` (single quotes, else double)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise WorkflowConfigError(f"queue name {value!r} has both quote characters; no rule can match it")


def transfer_workflow_configuration(
    queues: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    everyone_queue_sid: str | None = None,
    target_timeout: int | None = None,
) -> dict[str, Any]:
    """The workflow configuration for `queues` (friendly name → WQ sid, in the order given).

    The known-worker rule and the default route go through `everyone_queue_sid`, else the queue
    named "Everyone". `target_timeout` (seconds) bounds each target, as Flex's Workflow editor
    sets it; without it a target waits until the task's own timeout.
    """
    pairs = list(queues.items() if isinstance(queues, Mapping) else queues)
    everyone = everyone_queue_sid or next((sid for name, sid in pairs if name == EVERYONE_QUEUE), None)
    if not everyone:
        raise WorkflowConfigError(
            f"no {EVERYONE_QUEUE!r} queue: known-worker transfers need a queue every agent is in"
        )

    def timed(target: dict[str, Any]) -> dict[str, Any]:
        return {**target, "timeout": target_timeout} if target_timeout is not None else target

    filters: list[dict[str, Any]] = [
        {
            "filter_friendly_name": WORKER_RULE_NAME,
            "expression": "transferTargetType == 'worker'",
            "targets": [timed({"queue": everyone, "known_worker_sid": "task.transferTargetSid"})],
        }
    ]
    for name, sid in pairs:
        filters.append(
            {
                "filter_friendly_name": f"{QUEUE_RULE_PREFIX}{name}",
                "expression": f"transferQueueName == {expression_string(name)}",
                "targets": [timed({"queue": sid, "expression": EXCLUDE_TRANSFERRING_AGENT})],
            }
        )
    return {"task_routing": {"filters": filters, "default_filter": {"queue": everyone}}}


def canonical_json(configuration: Mapping[str, Any] | None) -> str:
    """The form two configurations are compared and diffed in (key order and spacing do not count)."""
    if configuration is None:
        return ""
    return json.dumps(configuration, indent=2, sort_keys=True) + "\n"


def configuration_diff(
    current: Mapping[str, Any] | None, wanted: Mapping[str, Any], *, name: str = WORKFLOW_NAME
) -> str:
    """A unified diff from `current` (None: the workflow does not exist yet) to `wanted`; "" if equal."""
    before = canonical_json(current)
    after = canonical_json(wanted)
    if before == after:
        return ""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (current)" if current is not None else "/dev/null",
            tofile=f"{name} (wanted)",
        )
    )
