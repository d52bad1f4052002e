"""Lookups and the configuration resources: workspaces, activities, task channels, workers
(activity, attributes, channels and their load), task queues, workflows."""

from __future__ import annotations

import json

from ..core import Core, parse_attributes
from ..errors import bad_request, not_found
from .model import (
    DEFAULT_ACTIVITIES,
    DEFAULT_CHANNELS,
    DEFAULT_RESERVATION_TIMEOUT,
    Activity,
    Load,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from .workflow_config import check_expression, parse_workflow_config


class Resources:
    """Workspaces and what they configure (a part of `TaskRouter`)."""

    core: Core
    workspaces: dict[str, Workspace]
    release_capacity_on_wrapup: bool

    # ------------------------------------------------------------- lookups
    def ws(self, sid: str) -> Workspace:
        ws = self.workspaces.get(sid)
        if ws is None:
            raise not_found(f"The requested resource /Workspaces/{sid} was not found")
        return ws

    @staticmethod
    def lookup(coll: dict, sid: str, what: str):
        obj = coll.get(sid)
        if obj is None:
            raise not_found(f"The requested resource {what} {sid} was not found")
        return obj

    def find_task(self, task_sid: str) -> tuple[Workspace, Task]:
        for ws in self.workspaces.values():
            if task_sid in ws.tasks:
                return ws, ws.tasks[task_sid]
        raise not_found(f"Task {task_sid} not found")

    def find_worker(self, worker_sid: str) -> tuple[Workspace, Worker]:
        for ws in self.workspaces.values():
            if worker_sid in ws.workers:
                return ws, ws.workers[worker_sid]
        raise LookupError(f"no worker {worker_sid}")

    def channel_by_name(self, ws: Workspace, name_or_sid: str) -> TaskChannel:
        for ch in ws.channels.values():
            if name_or_sid in (ch.sid, ch.unique_name):
                return ch
        raise bad_request(f"TaskChannel {name_or_sid} does not exist")

    def activity_by_name(self, ws: Workspace, name_or_sid: str) -> Activity:
        for act in ws.activities.values():
            if name_or_sid in (act.sid, act.friendly_name):
                return act
        raise bad_request(f"Activity {name_or_sid} does not exist")

    # ------------------------------------------------------------ creation
    def create_workspace(
        self,
        friendly_name: str,
        *,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool = True,
        template: str | None = None,
        prioritize_queue_order: str = "FIFO",
    ) -> Workspace:
        now = self.core.now()
        ws = Workspace(
            sid=self.core.sid("WS"),
            friendly_name=friendly_name,
            event_callback_url=event_callback_url,
            events_filter=events_filter,
            default_activity_sid=None,
            timeout_activity_sid=None,
            multi_task_enabled=multi_task_enabled,
            prioritize_queue_order=prioritize_queue_order,
            date_created=now,
            date_updated=now,
        )
        self.workspaces[ws.sid] = ws
        for name, available in DEFAULT_ACTIVITIES:
            self.create_activity(ws, name, available)
        offline = self.activity_by_name(ws, "Offline")
        ws.default_activity_sid = offline.sid
        ws.timeout_activity_sid = offline.sid
        for unique, friendly in DEFAULT_CHANNELS:
            self.create_task_channel(ws, unique, friendly)
        if template == "FIFO":
            q = self.create_queue(ws, "Sample Queue", target_workers="1==1")
            cfg = {"task_routing": {"filters": [], "default_filter": {"queue": q.sid}}}
            self.create_workflow(ws, "Default Fifo Workflow", json.dumps(cfg))
        return ws

    def create_activity(self, ws: Workspace, friendly_name: str, available: bool = False) -> Activity:
        now = self.core.now()
        act = Activity(self.core.sid("WA"), ws.sid, friendly_name, available, now, now)
        ws.activities[act.sid] = act
        return act

    def create_task_channel(
        self, ws: Workspace, unique_name: str, friendly_name: str, channel_optimized_routing: bool = False
    ) -> TaskChannel:
        if any(c.unique_name == unique_name for c in ws.channels.values()):
            raise bad_request(f"TaskChannel with UniqueName {unique_name} already exists")
        now = self.core.now()
        ch = TaskChannel(
            self.core.sid("TC"), ws.sid, unique_name, friendly_name, channel_optimized_routing, now, now
        )
        ws.channels[ch.sid] = ch
        for worker in ws.workers.values():
            self._add_worker_channel(worker, ch, capacity=1)
        return ch

    def _add_worker_channel(self, worker: Worker, ch: TaskChannel, capacity: int) -> None:
        now = self.core.now()
        worker.channels[ch.sid] = WorkerChannel(self.core.sid("WC"), ch.sid, capacity, True, now, now)

    def create_worker(
        self,
        ws: Workspace,
        friendly_name: str,
        attributes: str = "{}",
        activity_sid: str | None = None,
    ) -> Worker:
        if any(w.friendly_name == friendly_name for w in ws.workers.values()):
            raise bad_request(f"Worker with FriendlyName {friendly_name} already exists")
        now = self.core.now()
        activity_sid = activity_sid or ws.default_activity_sid
        self.lookup(ws.activities, activity_sid, "Activity")
        worker = Worker(
            sid=self.core.sid("WK"),
            workspace_sid=ws.sid,
            friendly_name=friendly_name,
            attributes=parse_attributes(attributes),
            activity_sid=activity_sid,
            date_created=now,
            date_updated=now,
            date_status_changed=now,
            last_assigned=now,
        )
        ws.workers[worker.sid] = worker
        for ch in ws.channels.values():
            self._add_worker_channel(worker, ch, capacity=1)
        self.emit(
            ws, "worker.created", "worker", worker.sid, f"Worker {friendly_name} created", worker=worker
        )
        self.dispatch(ws)
        return worker

    def create_queue(
        self,
        ws: Workspace,
        friendly_name: str,
        target_workers: str | None = None,
        max_reserved_workers: int = 1,
        task_order: str = "FIFO",
        reservation_activity_sid: str | None = None,
        assignment_activity_sid: str | None = None,
    ) -> TaskQueue:
        target_workers = target_workers or "1==1"
        check_expression(target_workers, "TargetWorkers")
        now = self.core.now()
        q = TaskQueue(
            self.core.sid("WQ"),
            ws.sid,
            friendly_name,
            target_workers,
            max_reserved_workers,
            task_order,
            reservation_activity_sid,
            assignment_activity_sid,
            now,
            now,
        )
        ws.queues[q.sid] = q
        self.emit(ws, "task-queue.created", "taskqueue", q.sid, f"TaskQueue {friendly_name} created", queue=q)
        return q

    def create_workflow(
        self,
        ws: Workspace,
        friendly_name: str,
        configuration: str,
        task_reservation_timeout: int = DEFAULT_RESERVATION_TIMEOUT,
        assignment_callback_url: str | None = None,
        fallback_assignment_callback_url: str | None = None,
    ) -> Workflow:
        config = parse_workflow_config(ws, configuration)
        now = self.core.now()
        wf = Workflow(
            self.core.sid("WW"),
            ws.sid,
            friendly_name,
            configuration,
            config,
            task_reservation_timeout,
            assignment_callback_url,
            fallback_assignment_callback_url,
            now,
            now,
        )
        ws.workflows[wf.sid] = wf
        return wf

    # -------------------------------------------------------------- workers
    def set_worker_activity(self, ws: Workspace, worker: Worker, activity_sid: str, *, reject_pending=False):
        act = self.lookup(ws.activities, activity_sid, "Activity")
        if act.sid == worker.activity_sid:
            return
        if not act.available and reject_pending:
            for res in list(ws.reservations.values()):
                if res.worker_sid == worker.sid and res.status == "pending":
                    self.reject(ws, res)
        prev = ws.activities[worker.activity_sid]
        now = self.core.now()
        elapsed = now - worker.date_status_changed
        worker.activity_sid = act.sid
        worker.date_status_changed = now
        worker.date_updated = now
        worker.version += 1
        if act.available and not prev.available:
            worker.last_assigned = now  # idle from now on, for "longest idle first"
        self.emit(
            ws,
            "worker.activity.update",
            "worker",
            worker.sid,
            f"Worker {worker.friendly_name} updated to {act.friendly_name} Activity",
            worker=worker,
            extra={
                "WorkerPreviousActivitySid": prev.sid,
                "WorkerPreviousActivityName": prev.friendly_name,
                "WorkerTimeInPreviousActivity": str(int(elapsed)),
                "WorkerTimeInPreviousActivityMs": str(int(elapsed * 1000)),
            },
        )
        self.dispatch(ws)

    def update_worker(
        self,
        ws: Workspace,
        worker: Worker,
        *,
        activity_sid: str | None = None,
        attributes: str | None = None,
        friendly_name: str | None = None,
        reject_pending: bool = False,
    ) -> Worker:
        if attributes is not None:
            worker.attributes = parse_attributes(attributes)
            worker.version += 1
            worker.date_updated = self.core.now()
            self.emit(
                ws,
                "worker.attributes.update",
                "worker",
                worker.sid,
                f"Worker {worker.friendly_name} attributes updated",
                worker=worker,
            )
        if friendly_name is not None:
            worker.friendly_name = friendly_name
            worker.version += 1
        if activity_sid is not None:
            self.set_worker_activity(ws, worker, activity_sid, reject_pending=reject_pending)
        self.dispatch(ws)
        return worker

    def update_worker_channel(
        self, ws: Workspace, worker: Worker, wc: WorkerChannel, capacity=None, available=None
    ) -> WorkerChannel:
        ch = ws.channels[wc.task_channel_sid]
        if capacity is not None:
            if capacity < 0 or capacity > 50:
                raise bad_request("Capacity must be between 0 and 50")
            wc.capacity = capacity
            self.emit(
                ws,
                "worker.capacity.update",
                "workerchannel",
                wc.sid,
                f"Worker {worker.friendly_name} capacity for {ch.unique_name} updated to {capacity}",
                worker=worker,
                extra={"TaskChannelSid": ch.sid, "TaskChannelUniqueName": ch.unique_name},
            )
        if available is not None:
            wc.available = available
            self.emit(
                ws,
                "worker.channel.availability.update",
                "workerchannel",
                wc.sid,
                f"Worker {worker.friendly_name} channel {ch.unique_name} availability {available}",
                worker=worker,
                extra={"TaskChannelSid": ch.sid, "TaskChannelUniqueName": ch.unique_name},
            )
        wc.date_updated = self.core.now()
        self.dispatch(ws)
        return wc

    def worker_channel(self, worker: Worker, ws: Workspace, sid_or_name: str) -> WorkerChannel:
        for wc in worker.channels.values():
            ch = ws.channels.get(wc.task_channel_sid)
            if sid_or_name in (wc.sid, wc.task_channel_sid) or (ch and ch.unique_name == sid_or_name):
                return wc
        raise not_found(f"WorkerChannel {sid_or_name} not found")

    def _live(self) -> tuple[str, ...]:
        """The task statuses that take a worker's capacity."""
        return ("assigned",) if self.release_capacity_on_wrapup else ("assigned", "wrapping")

    def assigned_count(self, ws: Workspace, worker: Worker, channel_sid: str) -> int:
        live = self._live()
        return sum(
            1
            for t in ws.tasks.values()
            if t.worker_sid == worker.sid
            and t.task_channel_sid == channel_sid
            and t.assignment_status in live
        )

    def load(self, ws: Workspace) -> Load:
        live = self._live()
        used: dict[tuple[str, str], int] = {}
        busy: set[str] = set()
        for t in ws.tasks.values():
            if t.worker_sid is None:
                continue
            if t.assignment_status in live:
                key = (t.worker_sid, t.task_channel_sid)
                used[key] = used.get(key, 0) + 1
            if t.assignment_status in ("assigned", "wrapping"):
                busy.add(t.worker_sid)
        for r in ws.reservations.values():
            if r.status != "pending":
                continue
            busy.add(r.worker_sid)
            task = ws.tasks.get(r.task_sid)
            if task:
                key = (r.worker_sid, task.task_channel_sid)
                used[key] = used.get(key, 0) + 1
        return Load(used, busy)
