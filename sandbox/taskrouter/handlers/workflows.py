"""REST: workflows."""

from __future__ import annotations

from ...rest import Req, no_content, ok, paginate, route
from ..model import DEFAULT_RESERVATION_TIMEOUT, TR
from ..render import workflow_json
from ..workflow_config import parse_workflow_config
from .common import WS, refuse_if_in_use, taskrouter_of, workspace_of


@route("taskrouter", f"{WS}/Workflows", "GET", "POST")
def workflows(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        wf = tr.create_workflow(
            ws,
            req.get("FriendlyName"),
            req.get("Configuration"),
            req.get_int("TaskReservationTimeout", DEFAULT_RESERVATION_TIMEOUT),
            req.get("AssignmentCallbackUrl"),
            req.get("FallbackAssignmentCallbackUrl"),
        )
        return ok(workflow_json(tr, ws, wf), 201)
    items = list(ws.workflows.values())
    if req.get("FriendlyName"):
        items = [w for w in items if w.friendly_name == req.get("FriendlyName")]
    return paginate(
        req, items, "workflows", f"{TR}/Workspaces/{ws.sid}/Workflows", lambda w: workflow_json(tr, ws, w)
    )


@route("taskrouter", f"{WS}/Workflows/{{Sid}}", "GET", "POST", "DELETE")
def workflow(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    wf = tr.lookup(ws.workflows, req["Sid"], "Workflow")
    if req.method == "DELETE":
        refuse_if_in_use(ws, "workflow_sid", wf.sid, "Workflow")
        del ws.workflows[wf.sid]
        return no_content()
    if req.method == "POST":
        if req.has("Configuration"):
            wf.config = parse_workflow_config(ws, req.get("Configuration"))
            wf.configuration = req.get("Configuration")
        if req.has("FriendlyName"):
            wf.friendly_name = req.get("FriendlyName")
        if req.has("TaskReservationTimeout"):
            wf.task_reservation_timeout = req.get_int("TaskReservationTimeout")
        if req.has("AssignmentCallbackUrl"):
            wf.assignment_callback_url = req.get("AssignmentCallbackUrl") or None
        if req.has("FallbackAssignmentCallbackUrl"):
            wf.fallback_assignment_callback_url = req.get("FallbackAssignmentCallbackUrl") or None
        wf.date_updated = tr.core.now()
        if (req.get("ReEvaluateTasks") or "").lower() == "true":
            for t in ws.tasks.values():
                if t.workflow_sid == wf.sid and t.assignment_status == "pending":
                    tr.start_routing(ws, t)
        tr.dispatch(ws)
    return ok(workflow_json(tr, ws, wf))
