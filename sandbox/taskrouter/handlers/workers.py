"""REST: workers and their channels."""

from __future__ import annotations

from ... import expressions
from ...errors import PRECONDITION_FAILED, TwilioError
from ...rest import Req, no_content, ok, paginate, route
from ..model import TR
from ..render import worker_channel_json, worker_json
from ..workflow_config import check_expression
from .common import WS, taskrouter_of, workspace_of


@route("taskrouter", f"{WS}/Workers", "GET", "POST")
def workers(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    if req.method == "POST":
        w = tr.create_worker(ws, req.get("FriendlyName"), req.get("Attributes", "{}"), req.get("ActivitySid"))
        return ok(worker_json(tr, ws, w), 201)
    items = list(ws.workers.values())
    if req.get("ActivityName"):
        items = [w for w in items if ws.activities[w.activity_sid].friendly_name == req.get("ActivityName")]
    if req.get("ActivitySid"):
        items = [w for w in items if w.activity_sid == req.get("ActivitySid")]
    if req.get("Available"):
        want = req.get("Available").lower() == "true"
        items = [w for w in items if ws.activities[w.activity_sid].available == want]
    if req.get("FriendlyName"):
        items = [w for w in items if w.friendly_name == req.get("FriendlyName")]
    if req.get("TargetWorkersExpression"):
        expr = req.get("TargetWorkersExpression")
        check_expression(expr, "TargetWorkersExpression")
        items = [w for w in items if expressions.matches_worker(expr, w.attrs)]
    qsid = req.get("TaskQueueSid")
    if req.get("TaskQueueName"):
        qsid = next((q.sid for q in ws.queues.values() if q.friendly_name == req.get("TaskQueueName")), "-")
    if qsid:
        q = ws.queues.get(qsid)
        items = [w for w in items if q and expressions.matches_worker(q.target_workers, w.attrs)]
    return paginate(
        req, items, "workers", f"{TR}/Workspaces/{ws.sid}/Workers", lambda w: worker_json(tr, ws, w)
    )


@route("taskrouter", f"{WS}/Workers/{{Sid}}", "GET", "POST", "DELETE")
def worker(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    w = tr.lookup(ws.workers, req["Sid"], "Worker")
    if req.method == "DELETE":
        for res in list(ws.reservations.values()):
            if res.worker_sid == w.sid and res.status == "pending":
                tr.reject(ws, res)
        del ws.workers[w.sid]
        tr.emit(ws, "worker.deleted", "worker", w.sid, f"Worker {w.friendly_name} deleted", worker=w)
        return no_content()
    if req.method == "POST":
        if "if-match" in req.headers and req.headers["if-match"].strip('"') != str(w.version):
            raise TwilioError(412, PRECONDITION_FAILED, "Precondition Failed")
        tr.update_worker(
            ws,
            w,
            activity_sid=req.get("ActivitySid"),
            attributes=req.get("Attributes"),
            friendly_name=req.get("FriendlyName"),
            reject_pending=bool(req.get_bool("RejectPendingReservations", False)),
        )
    return ok(worker_json(tr, ws, w), headers={"ETag": str(w.version)})


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Channels", "GET")
def worker_channels(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    w = tr.lookup(ws.workers, req["WorkerSid"], "Worker")
    return paginate(
        req,
        list(w.channels.values()),
        "channels",
        f"{TR}/Workspaces/{ws.sid}/Workers/{w.sid}/Channels",
        lambda wc: worker_channel_json(tr, ws, w, wc),
    )


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Channels/{{Sid}}", "GET", "POST")
def worker_channel(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    w = tr.lookup(ws.workers, req["WorkerSid"], "Worker")
    wc = tr.worker_channel(w, ws, req["Sid"])
    if req.method == "POST":
        tr.update_worker_channel(ws, w, wc, req.get_int("Capacity"), req.get_bool("Available"))
    return ok(worker_channel_json(tr, ws, w, wc))
