"""REST: workspaces, activities, task channels."""

from __future__ import annotations

from ...errors import TwilioError, bad_request, not_found
from ...rest import Req, no_content, ok, paginate, route
from ..model import TR
from ..render import activity_json, task_channel_json, workspace_json
from .common import WS, taskrouter_of, workspace_of


@route("taskrouter", "/v1/Workspaces", "GET")
def list_workspaces(req: Req):
    tr = taskrouter_of(req)
    items = list(tr.workspaces.values())
    if req.get("FriendlyName"):
        items = [w for w in items if w.friendly_name == req.get("FriendlyName")]
    return paginate(req, items, "workspaces", f"{TR}/Workspaces", lambda w: workspace_json(tr, w))


@route("taskrouter", "/v1/Workspaces", "POST")
def create_workspace(req: Req):
    tr = taskrouter_of(req)
    ws = tr.create_workspace(
        req.get("FriendlyName"),
        event_callback_url=req.get("EventCallbackUrl"),
        events_filter=req.get("EventsFilter"),
        multi_task_enabled=req.get_bool("MultiTaskEnabled", True),
        template=req.get("Template"),
        prioritize_queue_order=req.get("PrioritizeQueueOrder", "FIFO"),
    )
    return ok(workspace_json(tr, ws), 201)


@route("taskrouter", "/v1/Workspaces/{Sid}", "GET", "POST", "DELETE")
def workspace(req: Req):
    tr = taskrouter_of(req)
    ws = tr.ws(req["Sid"])
    if req.method == "DELETE":
        del tr.workspaces[ws.sid]
        return no_content()
    if req.method == "POST":
        if req.has("FriendlyName"):
            ws.friendly_name = req.get("FriendlyName")
        if req.has("EventCallbackUrl"):
            ws.event_callback_url = req.get("EventCallbackUrl") or None
        if req.has("EventsFilter"):
            ws.events_filter = req.get("EventsFilter") or None
        if req.has("MultiTaskEnabled"):
            ws.multi_task_enabled = req.get_bool("MultiTaskEnabled")
        if req.has("DefaultActivitySid"):
            ws.default_activity_sid = tr.lookup(ws.activities, req.get("DefaultActivitySid"), "Activity").sid
        if req.has("TimeoutActivitySid"):
            ws.timeout_activity_sid = tr.lookup(ws.activities, req.get("TimeoutActivitySid"), "Activity").sid
        if req.has("PrioritizeQueueOrder"):
            ws.prioritize_queue_order = req.get("PrioritizeQueueOrder")
        ws.date_updated = tr.core.now()
    return ok(workspace_json(tr, ws))


@route("taskrouter", f"{WS}/Activities", "GET", "POST")
def activities(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        act = tr.create_activity(ws, req.get("FriendlyName"), req.get_bool("Available", False))
        return ok(activity_json(tr, act), 201)
    items = list(ws.activities.values())
    if req.get("FriendlyName"):
        items = [a for a in items if a.friendly_name == req.get("FriendlyName")]
    if req.get("Available"):
        items = [a for a in items if a.available == (req.get("Available").lower() == "true")]
    return paginate(
        req, items, "activities", f"{TR}/Workspaces/{ws.sid}/Activities", lambda a: activity_json(tr, a)
    )


@route("taskrouter", f"{WS}/Activities/{{Sid}}", "GET", "POST", "DELETE")
def activity(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    act = tr.lookup(ws.activities, req["Sid"], "Activity")
    if req.method == "DELETE":
        if any(w.activity_sid == act.sid for w in ws.workers.values()):
            raise bad_request("Cannot delete an Activity that Workers are in")
        del ws.activities[act.sid]
        return no_content()
    if req.method == "POST" and req.has("FriendlyName"):
        act.friendly_name = req.get("FriendlyName")
        act.date_updated = tr.core.now()
    return ok(activity_json(tr, act))


@route("taskrouter", f"{WS}/TaskChannels", "GET", "POST")
def task_channels(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        ch = tr.create_task_channel(
            ws, req.get("UniqueName"), req.get("FriendlyName"), req.get_bool("ChannelOptimizedRouting", False)
        )
        return ok(task_channel_json(tr, ch), 201)
    items = list(ws.channels.values())
    return paginate(
        req, items, "channels", f"{TR}/Workspaces/{ws.sid}/TaskChannels", lambda c: task_channel_json(tr, c)
    )


@route("taskrouter", f"{WS}/TaskChannels/{{Sid}}", "GET", "POST", "DELETE")
def task_channel(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    try:
        ch = tr.channel_by_name(ws, req["Sid"])
    except TwilioError:
        raise not_found(f"TaskChannel {req['Sid']} not found") from None
    if req.method == "DELETE":
        del ws.channels[ch.sid]
        return no_content()
    if req.method == "POST":
        if req.has("FriendlyName"):
            ch.friendly_name = req.get("FriendlyName")
        if req.has("ChannelOptimizedRouting"):
            ch.channel_optimized_routing = req.get_bool("ChannelOptimizedRouting")
        ch.date_updated = tr.core.now()
    return ok(task_channel_json(tr, ch))
