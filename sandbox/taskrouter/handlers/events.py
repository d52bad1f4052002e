"""REST: the workspace's Events."""

from __future__ import annotations

from ...errors import not_found
from ...rest import Req, ok, paginate, route
from ..model import TR
from ..render import event_json
from .common import WS, taskrouter_of, workspace_of


@route("taskrouter", f"{WS}/Events", "GET")
def events(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    items = list(ws.events)
    for param, key in (
        ("TaskSid", "task_sid"),
        ("WorkerSid", "worker_sid"),
        ("ReservationSid", "reservation_sid"),
        ("TaskQueueSid", "task_queue_sid"),
        ("WorkflowSid", "workflow_sid"),
        ("TaskChannel", "task_channel_unique_name"),
    ):
        if req.get(param):
            items = [e for e in items if e.data.get(key) == req.get(param)]
    if req.get("EventType"):
        items = [e for e in items if e.event_type == req.get("EventType")]
    if req.get("Sid"):
        items = [e for e in items if e.sid == req.get("Sid")]
    if req.get("Minutes"):
        since = tr.core.now() - 60 * (req.get_int("Minutes") or 0)
        items = [e for e in items if e.date >= since]
    items.reverse()  # newest first, as Twilio lists events
    return paginate(req, items, "events", f"{TR}/Workspaces/{ws.sid}/Events", lambda e: event_json(tr, ws, e))


@route("taskrouter", f"{WS}/Events/{{Sid}}", "GET")
def event(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    for e in ws.events:
        if e.sid == req["Sid"]:
            return ok(event_json(tr, ws, e))
    raise not_found(f"Event {req['Sid']} not found")
