"""TaskRouter resources in the shapes of Twilio's OpenAPI description."""

from __future__ import annotations

from ..clock import iso
from .engine import TaskRouter
from .model import (
    TR,
    Activity,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)


def _links(base: str, **subs: str) -> dict[str, str]:
    return {k: f"{base}/{v}" if not v.startswith("http") else v for k, v in subs.items()}


def workspace_json(tr: TaskRouter, ws: Workspace) -> dict:
    base = f"{TR}/Workspaces/{ws.sid}"
    da = ws.activities.get(ws.default_activity_sid or "")
    ta = ws.activities.get(ws.timeout_activity_sid or "")
    return {
        "account_sid": tr.core.account_sid,
        "date_created": iso(ws.date_created),
        "date_updated": iso(ws.date_updated),
        "default_activity_name": da.friendly_name if da else None,
        "default_activity_sid": ws.default_activity_sid,
        "event_callback_url": ws.event_callback_url,
        "events_filter": ws.events_filter,
        "friendly_name": ws.friendly_name,
        "multi_task_enabled": ws.multi_task_enabled,
        "sid": ws.sid,
        "timeout_activity_name": ta.friendly_name if ta else None,
        "timeout_activity_sid": ws.timeout_activity_sid,
        "prioritize_queue_order": ws.prioritize_queue_order,
        "url": base,
        "links": _links(
            base,
            activities="Activities",
            events="Events",
            task_channels="TaskChannels",
            task_queues="TaskQueues",
            tasks="Tasks",
            workers="Workers",
            workflows="Workflows",
            statistics="Statistics",
            real_time_statistics="RealTimeStatistics",
            cumulative_statistics="CumulativeStatistics",
        ),
    }


def activity_json(tr: TaskRouter, a: Activity) -> dict:
    base = f"{TR}/Workspaces/{a.workspace_sid}"
    return {
        "account_sid": tr.core.account_sid,
        "available": a.available,
        "date_created": iso(a.date_created),
        "date_updated": iso(a.date_updated),
        "friendly_name": a.friendly_name,
        "sid": a.sid,
        "workspace_sid": a.workspace_sid,
        "url": f"{base}/Activities/{a.sid}",
        "links": {"workspace": base},
    }


def task_channel_json(tr: TaskRouter, c: TaskChannel) -> dict:
    base = f"{TR}/Workspaces/{c.workspace_sid}"
    return {
        "account_sid": tr.core.account_sid,
        "date_created": iso(c.date_created),
        "date_updated": iso(c.date_updated),
        "friendly_name": c.friendly_name,
        "sid": c.sid,
        "unique_name": c.unique_name,
        "workspace_sid": c.workspace_sid,
        "channel_optimized_routing": c.channel_optimized_routing,
        "url": f"{base}/TaskChannels/{c.sid}",
        "links": {"workspace": base},
    }


def worker_json(tr: TaskRouter, ws: Workspace, w: Worker) -> dict:
    base = f"{TR}/Workspaces/{ws.sid}"
    url = f"{base}/Workers/{w.sid}"
    act = ws.activities.get(w.activity_sid)
    return {
        "account_sid": tr.core.account_sid,
        "activity_name": act.friendly_name if act else None,
        "activity_sid": w.activity_sid,
        "attributes": w.attributes,
        "available": bool(act and act.available),
        "date_created": iso(w.date_created),
        "date_status_changed": iso(w.date_status_changed),
        "date_updated": iso(w.date_updated),
        "friendly_name": w.friendly_name,
        "sid": w.sid,
        "workspace_sid": ws.sid,
        "url": url,
        "links": {
            "channels": f"{url}/Channels",
            "reservations": f"{url}/Reservations",
            "statistics": f"{url}/Statistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "worker_statistics": f"{url}/Statistics",
            "worker_channels": f"{url}/Channels",
            "activity": f"{base}/Activities/{w.activity_sid}",
            "workspace": base,
        },
    }


def worker_channel_json(tr: TaskRouter, ws: Workspace, w: Worker, wc: WorkerChannel) -> dict:
    ch = ws.channels[wc.task_channel_sid]
    assigned = tr.assigned_count(ws, w, ch.sid)
    free = max(wc.capacity - assigned, 0)
    return {
        "account_sid": tr.core.account_sid,
        "assigned_tasks": assigned,
        "available": wc.available,
        "available_capacity_percentage": int(100 * free / wc.capacity) if wc.capacity else 0,
        "configured_capacity": wc.capacity,
        "date_created": iso(wc.date_created),
        "date_updated": iso(wc.date_updated),
        "sid": wc.sid,
        "task_channel_sid": ch.sid,
        "task_channel_unique_name": ch.unique_name,
        "worker_sid": w.sid,
        "workspace_sid": ws.sid,
        "url": f"{TR}/Workspaces/{ws.sid}/Workers/{w.sid}/Channels/{wc.sid}",
    }


def queue_json(tr: TaskRouter, ws: Workspace, q: TaskQueue) -> dict:
    base = f"{TR}/Workspaces/{ws.sid}"
    url = f"{base}/TaskQueues/{q.sid}"
    ra = ws.activities.get(q.reservation_activity_sid or "")
    aa = ws.activities.get(q.assignment_activity_sid or "")
    return {
        "account_sid": tr.core.account_sid,
        "assignment_activity_sid": q.assignment_activity_sid,
        "assignment_activity_name": aa.friendly_name if aa else None,
        "date_created": iso(q.date_created),
        "date_updated": iso(q.date_updated),
        "friendly_name": q.friendly_name,
        "max_reserved_workers": q.max_reserved_workers,
        "reservation_activity_sid": q.reservation_activity_sid,
        "reservation_activity_name": ra.friendly_name if ra else None,
        "sid": q.sid,
        "target_workers": q.target_workers,
        "task_order": q.task_order,
        "url": url,
        "workspace_sid": ws.sid,
        "links": {
            "assignment_activity": f"{base}/Activities/{q.assignment_activity_sid}",
            "reservation_activity": f"{base}/Activities/{q.reservation_activity_sid}",
            "workspace": base,
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "list_statistics": f"{base}/TaskQueues/Statistics",
            "bulk_real_time_statistics": f"{base}/TaskQueues/RealTimeStatistics",
        },
    }


def workflow_json(tr: TaskRouter, ws: Workspace, wf: Workflow) -> dict:
    url = f"{TR}/Workspaces/{ws.sid}/Workflows/{wf.sid}"
    return {
        "account_sid": tr.core.account_sid,
        "assignment_callback_url": wf.assignment_callback_url,
        "configuration": wf.configuration,
        "date_created": iso(wf.date_created),
        "date_updated": iso(wf.date_updated),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": wf.fallback_assignment_callback_url,
        "friendly_name": wf.friendly_name,
        "sid": wf.sid,
        "task_reservation_timeout": wf.task_reservation_timeout,
        "workspace_sid": ws.sid,
        "url": url,
        "links": {
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
        },
    }


def task_json(tr: TaskRouter, ws: Workspace, t: Task) -> dict:
    base = f"{TR}/Workspaces/{ws.sid}"
    url = f"{base}/Tasks/{t.sid}"
    ch = ws.channels.get(t.task_channel_sid)
    wf = ws.workflows.get(t.workflow_sid or "")
    q = ws.queues.get(t.task_queue_sid or "")
    return {
        "account_sid": tr.core.account_sid,
        "age": int(tr.core.now() - t.date_created),
        "assignment_status": t.assignment_status,
        "attributes": t.attributes,
        "addons": "{}",
        "date_created": iso(t.date_created),
        "date_updated": iso(t.date_updated),
        "task_queue_entered_date": iso(t.task_queue_entered_date),
        "virtual_start_time": iso(t.virtual_start_time),
        "priority": t.priority,
        "reason": t.reason,
        "sid": t.sid,
        "task_queue_sid": t.task_queue_sid,
        "task_queue_friendly_name": q.friendly_name if q else None,
        "task_channel_sid": t.task_channel_sid,
        "task_channel_unique_name": ch.unique_name if ch else None,
        "timeout": t.timeout,
        "workflow_sid": t.workflow_sid,
        "workflow_friendly_name": wf.friendly_name if wf else None,
        "workspace_sid": ws.sid,
        "url": url,
        "ignore_capacity": t.ignore_capacity,
        "routing_target": t.routing_target,
        "links": {
            "task_queue": f"{base}/TaskQueues/{t.task_queue_sid}",
            "workflow": f"{base}/Workflows/{t.workflow_sid}",
            "workspace": base,
            "reservations": f"{url}/Reservations",
        },
    }


def reservation_json(tr: TaskRouter, ws: Workspace, r: Reservation, *, via_worker: bool = False) -> dict:
    base = f"{TR}/Workspaces/{ws.sid}"
    worker = ws.workers.get(r.worker_sid)
    url = (
        f"{base}/Workers/{r.worker_sid}/Reservations/{r.sid}"
        if via_worker
        else f"{base}/Tasks/{r.task_sid}/Reservations/{r.sid}"
    )
    return {
        "account_sid": tr.core.account_sid,
        "date_created": iso(r.date_created),
        "date_updated": iso(r.date_updated),
        "reservation_status": r.status,
        "sid": r.sid,
        "task_sid": r.task_sid,
        "worker_name": worker.friendly_name if worker else None,
        "worker_sid": r.worker_sid,
        "workspace_sid": ws.sid,
        "url": url,
        "links": {
            "task": f"{base}/Tasks/{r.task_sid}",
            "worker": f"{base}/Workers/{r.worker_sid}",
            "workspace": base,
        },
    }


def event_json(tr: TaskRouter, ws: Workspace, e: Event) -> dict:
    return {
        "account_sid": tr.core.account_sid,
        "actor_sid": ws.sid,
        "actor_type": "workspace",
        "actor_url": f"{TR}/Workspaces/{ws.sid}",
        "description": e.description,
        "event_data": e.data,
        "event_date": iso(e.date),
        "event_date_ms": int(e.date * 1000),
        "event_type": e.event_type,
        "resource_sid": e.resource_sid,
        "resource_type": e.resource_type,
        "resource_url": e.resource_url,
        "sid": e.sid,
        "source": "twilio",
        "source_ip_address": None,
        "url": f"{TR}/Workspaces/{ws.sid}/Events/{e.sid}",
        "workspace_sid": ws.sid,
    }
