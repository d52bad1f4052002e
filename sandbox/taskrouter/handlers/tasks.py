"""REST: tasks."""

from __future__ import annotations

from ... import expressions
from ...errors import bad_request
from ...rest import Req, no_content, ok, paginate, route
from ..engine import TaskRouter
from ..events import TaskChangeRequested
from ..model import TR, Task, Workspace
from ..render import task_json
from ..workflow_config import check_expression
from .common import WS, taskrouter_of, workspace_of


def _task_list_filter(req: Req, tr: TaskRouter, ws: Workspace) -> list[Task]:
    items = list(ws.tasks.values())
    statuses = [s for v in req.get_list("AssignmentStatus") for s in v.split(",") if s]
    if statuses:
        items = [t for t in items if t.assignment_status in statuses]
    if req.get("Priority") is not None:
        items = [t for t in items if t.priority == req.get_int("Priority")]
    if req.get("WorkflowSid"):
        items = [t for t in items if t.workflow_sid == req.get("WorkflowSid")]
    if req.get("WorkflowName"):
        names = {w.sid for w in ws.workflows.values() if w.friendly_name == req.get("WorkflowName")}
        items = [t for t in items if t.workflow_sid in names]
    if req.get("TaskQueueSid"):
        items = [t for t in items if t.task_queue_sid == req.get("TaskQueueSid")]
    if req.get("TaskQueueName"):
        names = {q.sid for q in ws.queues.values() if q.friendly_name == req.get("TaskQueueName")}
        items = [t for t in items if t.task_queue_sid in names]
    if req.get("RoutingTarget"):
        items = [t for t in items if t.routing_target == req.get("RoutingTarget")]
    if req.get("EvaluateTaskAttributes"):
        expr = req.get("EvaluateTaskAttributes")
        check_expression(expr, "EvaluateTaskAttributes")
        items = [t for t in items if expressions.matches_task(expr, t.attrs)]
    if req.get("HasAddons") is not None:
        items = [] if req.get_bool("HasAddons") else items
    ordering = req.get("Ordering")
    if ordering:
        for part in reversed(ordering.split(",")):
            attr, _, direction = part.partition(":")
            key = {
                "DateCreated": lambda t: t.date_created,
                "Priority": lambda t: t.priority,
                "VirtualStartTime": lambda t: t.virtual_start_time,
            }.get(attr.strip())
            if key is None:
                raise bad_request(f"Invalid Ordering {ordering}")
            items.sort(key=key, reverse=direction.strip().lower() == "desc")
    return items


@route("taskrouter", f"{WS}/Tasks", "GET", "POST")
def tasks(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        t = tr.create_task(
            ws,
            workflow_sid=req.get("WorkflowSid"),
            attributes=req.get("Attributes"),
            priority=req.get_int("Priority"),
            timeout=req.get_int("Timeout"),
            task_channel=req.get("TaskChannel"),
            routing_target=req.get("RoutingTarget"),
            ignore_capacity=req.get_bool("IgnoreCapacity"),
            task_queue_sid=req.get("TaskQueueSid"),
        )
        return ok(task_json(tr, ws, t), 201, {"ETag": tr.etag(t)})
    items = _task_list_filter(req, tr, ws)
    return paginate(req, items, "tasks", f"{TR}/Workspaces/{ws.sid}/Tasks", lambda t: task_json(tr, ws, t))


@route("taskrouter", f"{WS}/Tasks/{{Sid}}", "GET", "POST", "DELETE")
def task(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    t = tr.lookup(ws.tasks, req["Sid"], "Task")
    if req.method == "DELETE":
        tr.check_if_match(t, req.headers.get("if-match"))
        req.core.publish(TaskChangeRequested(ws, t, "delete"))
        tr.delete_task(ws, t)
        return no_content()
    if req.method == "POST":
        if req.get("AssignmentStatus"):
            req.core.publish(TaskChangeRequested(ws, t, req.get("AssignmentStatus")))
        tr.update_task(
            ws,
            t,
            if_match=req.headers.get("if-match"),
            assignment_status=req.get("AssignmentStatus"),
            reason=req.get("Reason"),
            attributes=req.get("Attributes"),
            priority=req.get_int("Priority"),
            task_channel=req.get("TaskChannel"),
        )
    return ok(task_json(tr, ws, t), headers={"ETag": tr.etag(t)})
