"""REST: reservations, through their worker and through their task."""

from __future__ import annotations

from ...errors import INVALID_PARAMETER, TwilioError, bad_request, not_found
from ...rest import Req, ok, paginate, route
from ..model import TR, Reservation, Workspace
from ..render import reservation_json
from .common import WS, taskrouter_of, workspace_of


def _reservation_filter(req: Req, items: list[Reservation]) -> list[Reservation]:
    if req.get("ReservationStatus"):
        items = [r for r in items if r.status == req.get("ReservationStatus")]
    if req.get("WorkerSid"):
        items = [r for r in items if r.worker_sid == req.get("WorkerSid")]
    return items


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Reservations", "GET")
def worker_reservations(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    w = tr.lookup(ws.workers, req["WorkerSid"], "Worker")
    items = _reservation_filter(req, [r for r in ws.reservations.values() if r.worker_sid == w.sid])
    return paginate(
        req,
        items,
        "reservations",
        f"{TR}/Workspaces/{ws.sid}/Workers/{w.sid}/Reservations",
        lambda r: reservation_json(tr, ws, r, via_worker=True),
    )


def _update_reservation(req: Req, ws: Workspace, res: Reservation) -> None:
    tr = taskrouter_of(req)
    status = req.get("ReservationStatus")
    activity = req.get("WorkerActivitySid")
    if status is None:
        if activity:
            tr.set_worker_activity(ws, ws.workers[res.worker_sid], activity)
        return
    task = ws.tasks[res.task_sid]
    if status == "accepted":
        tr.accept(ws, res)
    elif status == "rejected":
        tr.reject(ws, res, activity)
        activity = None
    elif status == "wrapping":
        if res.status != "accepted":
            raise bad_request(
                f"Reservation {res.sid} is {res.status}, only an accepted one can move to wrapping"
            )
        tr.wrapup(ws, task)
    elif status == "completed":
        if res.status not in ("accepted", "wrapping"):
            raise bad_request(f"Reservation {res.sid} is {res.status}, it cannot be completed")
        tr.complete(ws, task)
    else:
        raise TwilioError(400, INVALID_PARAMETER, f"ReservationStatus cannot be set to {status}")
    if activity:
        tr.set_worker_activity(ws, ws.workers[res.worker_sid], activity)


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Reservations/{{Sid}}", "GET", "POST")
def worker_reservation(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    res = tr.lookup(ws.reservations, req["Sid"], "Reservation")
    if res.worker_sid != req["WorkerSid"]:
        raise not_found(f"Reservation {res.sid} not found")
    if req.method == "POST":
        _update_reservation(req, ws, res)
    return ok(reservation_json(tr, ws, res, via_worker=True))


@route("taskrouter", f"{WS}/Tasks/{{TaskSid}}/Reservations", "GET")
def task_reservations(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    t = tr.lookup(ws.tasks, req["TaskSid"], "Task")
    items = _reservation_filter(req, [ws.reservations[s] for s in t.reservation_sids])
    return paginate(
        req,
        items,
        "reservations",
        f"{TR}/Workspaces/{ws.sid}/Tasks/{t.sid}/Reservations",
        lambda r: reservation_json(tr, ws, r),
    )


@route("taskrouter", f"{WS}/Tasks/{{TaskSid}}/Reservations/{{Sid}}", "GET", "POST")
def task_reservation(req: Req):
    tr, ws = taskrouter_of(req), workspace_of(req)
    t = tr.lookup(ws.tasks, req["TaskSid"], "Task")
    res = tr.lookup(ws.reservations, req["Sid"], "Reservation")
    if res.task_sid != t.sid:
        raise not_found(f"Reservation {res.sid} not found")
    if req.method == "POST":
        _update_reservation(req, ws, res)
    return ok(reservation_json(tr, ws, res))
