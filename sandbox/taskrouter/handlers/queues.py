"""REST: task queues."""

from __future__ import annotations

from ... import expressions
from ...core import parse_json_param
from ...rest import Req, no_content, ok, paginate, route
from ..model import TR
from ..render import queue_json
from ..workflow_config import check_expression
from .common import WS, refuse_if_in_use, taskrouter_of, workspace_of


@route("taskrouter", f"{WS}/TaskQueues", "GET", "POST")
def task_queues(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        q = tr.create_queue(
            ws,
            req.get("FriendlyName"),
            req.get("TargetWorkers"),
            req.get_int("MaxReservedWorkers", 1),
            req.get("TaskOrder", "FIFO"),
            req.get("ReservationActivitySid"),
            req.get("AssignmentActivitySid"),
        )
        return ok(queue_json(tr, ws, q), 201)
    items = list(ws.queues.values())
    if req.get("FriendlyName"):
        items = [q for q in items if q.friendly_name == req.get("FriendlyName")]
    if req.get("EvaluateWorkerAttributes"):
        wattrs = parse_json_param(req.get("EvaluateWorkerAttributes"), "EvaluateWorkerAttributes", {})
        items = [q for q in items if expressions.matches_worker(q.target_workers, wattrs)]
    if req.get("WorkerSid"):
        w = tr.lookup(ws.workers, req.get("WorkerSid"), "Worker")
        items = [q for q in items if expressions.matches_worker(q.target_workers, w.attrs)]
    return paginate(
        req, items, "task_queues", f"{TR}/Workspaces/{ws.sid}/TaskQueues", lambda q: queue_json(tr, ws, q)
    )


@route("taskrouter", f"{WS}/TaskQueues/{{Sid}}", "GET", "POST", "DELETE")
def task_queue(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    q = tr.lookup(ws.queues, req["Sid"], "TaskQueue")
    if req.method == "DELETE":
        refuse_if_in_use(ws, "task_queue_sid", q.sid, "TaskQueue")
        del ws.queues[q.sid]
        return no_content()
    if req.method == "POST":
        if req.has("FriendlyName"):
            q.friendly_name = req.get("FriendlyName")
        if req.has("TargetWorkers"):
            check_expression(req.get("TargetWorkers"), "TargetWorkers")
            q.target_workers = req.get("TargetWorkers")
        if req.has("MaxReservedWorkers"):
            q.max_reserved_workers = req.get_int("MaxReservedWorkers")
        if req.has("TaskOrder"):
            q.task_order = req.get("TaskOrder")
        if req.has("ReservationActivitySid"):
            q.reservation_activity_sid = req.get("ReservationActivitySid") or None
        if req.has("AssignmentActivitySid"):
            q.assignment_activity_sid = req.get("AssignmentActivitySid") or None
        q.date_updated = tr.core.now()
        tr.dispatch(ws)
    return ok(queue_json(tr, ws, q))
