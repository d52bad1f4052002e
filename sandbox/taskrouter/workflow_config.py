"""A workflow's Configuration document: validated and parsed into filters and targets."""

from __future__ import annotations

from .. import expressions
from ..core import parse_json_param
from ..errors import bad_request
from .model import Filter, Target, WorkflowConfig, Workspace


def parse_workflow_config(ws: Workspace, text: str) -> WorkflowConfig:
    """Validate and parse a workflow Configuration document (400 on anything Twilio rejects)."""
    doc = parse_json_param(text, "Configuration")
    if not isinstance(doc, dict) or not isinstance(doc.get("task_routing"), dict):
        raise bad_request("Configuration must be a JSON object with a task_routing object")
    tr = doc["task_routing"]
    filters = []
    for i, f in enumerate(tr.get("filters") or []):
        if not isinstance(f, dict):
            raise bad_request(f"filter {i} must be an object")
        expr = f.get("expression")
        check_expression(expr, f"filter {i} expression")
        targets = []
        for j, t in enumerate(f.get("targets") or []):
            if not isinstance(t, dict):
                raise bad_request(f"filter {i} target {j} must be an object")
            queue = t.get("queue")
            if queue is not None and queue not in ws.queues:
                raise bad_request(f"Invalid TaskQueue {queue} in filter {i} target {j}")
            if queue is None and j == 0:
                raise bad_request(f"filter {i} target 0 must name a queue")
            for key in ("expression", "skip_if"):
                check_expression(t.get(key), f"filter {i} target {j} {key}")
            timeout = t.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
                raise bad_request(f"filter {i} target {j} timeout must be a non-negative integer")
            targets.append(
                Target(
                    queue=queue,
                    expression=t.get("expression"),
                    priority=t.get("priority"),
                    timeout=timeout,
                    known_worker_sid=t.get("known_worker_sid"),
                    known_worker_friendly_name=t.get("known_worker_friendly_name"),
                    skip_if=t.get("skip_if"),
                )
            )
        if not targets:
            raise bad_request(f"filter {i} has no targets")
        filters.append(Filter(f.get("filter_friendly_name") or f"Filter {i}", expr, targets))
    default = tr.get("default_filter") or {}
    default_queue = default.get("queue") if isinstance(default, dict) else None
    if default_queue is not None and default_queue not in ws.queues:
        raise bad_request(f"Invalid TaskQueue {default_queue} in default_filter")
    return WorkflowConfig(filters, default_queue)


def check_expression(expr: str | None, what: str) -> None:
    if expr is None:
        return
    try:
        expressions.validate(expr)
    except expressions.ExpressionError as exc:
        raise bad_request(f"Invalid {what}: {exc}") from None
