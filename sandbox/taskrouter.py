"""TaskRouter: workspaces, activities, channels, workers, queues, workflows, tasks,
reservations, the routing engine and the event callback.

Routing follows Twilio's documented behaviour
(https://www.twilio.com/docs/taskrouter/lifecycle-task-workflows-and-assignment):

* a new task is matched to the first workflow filter whose ``expression`` matches its
  attributes; a task matching no filter goes to ``default_filter``;
* within the filter it works through the ``targets`` in order; each target names a
  ``queue`` (a target without one keeps the previous queue), an optional worker
  ``expression`` (``worker.`` / ``task.`` keys), ``known_worker_sid`` /
  ``known_worker_friendly_name`` (literal or ``task.x`` reference; the worker must be
  in the target's queue), ``priority``, ``timeout`` and ``skip_if``;
* target timeouts add up from when the task entered the workflow (Twilio's "queue
  timeout is the sum"); a reservation that times out moves the task to the next
  target; when the last target's timeout passes without an accepted reservation a
  ``workflow.timeout`` event fires and the task is canceled (reason ``Workflow Timeout``);
* ``RoutingTarget`` = WK routes straight to that worker (``IgnoreCapacity`` defaults to
  true), = WQ straight into that queue;
* a reservation goes to an available worker (activity ``available``, the task's
  channel available with capacity left, not already rejecting this task), the one
  idle longest first; a reservation times out after the workflow's
  ``TaskReservationTimeout`` (default 120 s) and the worker moves to the workspace's
  ``TimeoutActivity`` (Offline); a worker who rejects is not offered the task again;
* a task still pending or reserved when its ``Timeout`` (TTL, default 86400 s) passes is
  canceled with reason ``Task TTL Exceeded``;
* only pending/reserved tasks can be canceled, only assigned ones moved to wrapping,
  assigned or wrapping ones completed; every change bumps the task's version (its ETag).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import expressions
from .clock import iso
from .core import Core, parse_attributes, parse_json_param
from .errors import INVALID_PARAMETER, PRECONDITION_FAILED, TwilioError, bad_request, not_found
from .rest import Req, no_content, ok, paginate, route

TR = "https://taskrouter.twilio.com/v1"
DEFAULT_RESERVATION_TIMEOUT = 120
DEFAULT_TASK_TIMEOUT = 86400
MAX_TASK_TIMEOUT = 1209600  # two weeks
DEFAULT_CHANNELS = [
    ("default", "Default"),
    ("voice", "Voice"),
    ("chat", "Chat"),
    ("sms", "SMS"),
    ("video", "Video"),
    ("email", "Email"),
]
DEFAULT_ACTIVITIES = [("Offline", False), ("Available", True), ("Unavailable", False), ("Break", False)]
FINAL = ("canceled", "completed")


# ----------------------------------------------------------------------- model
@dataclass
class Activity:
    sid: str
    workspace_sid: str
    friendly_name: str
    available: bool
    date_created: float
    date_updated: float


@dataclass
class TaskChannel:
    sid: str
    workspace_sid: str
    unique_name: str
    friendly_name: str
    channel_optimized_routing: bool
    date_created: float
    date_updated: float


@dataclass
class WorkerChannel:
    sid: str
    task_channel_sid: str
    capacity: int
    available: bool
    date_created: float
    date_updated: float


@dataclass
class Worker:
    sid: str
    workspace_sid: str
    friendly_name: str
    attributes: str
    activity_sid: str
    date_created: float
    date_updated: float
    date_status_changed: float
    channels: dict[str, WorkerChannel] = field(default_factory=dict)
    version: int = 0
    last_assigned: float = 0.0

    @property
    def attrs(self) -> dict:
        return parsed_attributes(self)


@dataclass
class TaskQueue:
    sid: str
    workspace_sid: str
    friendly_name: str
    target_workers: str
    max_reserved_workers: int
    task_order: str
    reservation_activity_sid: str | None
    assignment_activity_sid: str | None
    date_created: float
    date_updated: float


@dataclass
class Target:
    queue: str | None
    expression: str | None = None
    priority: int | None = None
    timeout: int | None = None
    known_worker_sid: str | None = None
    known_worker_friendly_name: str | None = None
    skip_if: str | None = None


@dataclass
class Filter:
    name: str
    expression: str | None
    targets: list[Target]


@dataclass
class WorkflowConfig:
    filters: list[Filter]
    default_queue: str | None


@dataclass
class Workflow:
    sid: str
    workspace_sid: str
    friendly_name: str
    configuration: str
    config: WorkflowConfig
    task_reservation_timeout: int
    assignment_callback_url: str | None
    fallback_assignment_callback_url: str | None
    date_created: float
    date_updated: float


@dataclass
class Reservation:
    sid: str
    workspace_sid: str
    task_sid: str
    worker_sid: str
    status: str
    date_created: float
    date_updated: float
    deadline: float | None


@dataclass
class Task:
    sid: str
    workspace_sid: str
    attributes: str
    assignment_status: str
    priority: int
    timeout: int
    reason: str | None
    task_channel_sid: str
    workflow_sid: str | None
    task_queue_sid: str | None
    routing_target: str | None
    ignore_capacity: bool | None
    date_created: float
    date_updated: float
    task_queue_entered_date: float | None
    virtual_start_time: float
    version: int = 0
    # routing state (not exposed)
    filter_idx: int | None = None  # None: default filter or direct routing target
    target_idx: int = 0
    routing_started: float = 0.0
    target_deadline: float | None = None
    target_priority: int | None = None
    excluded: set[str] = field(default_factory=set)
    worker_sid: str | None = None
    reservation_sids: list[str] = field(default_factory=list)

    @property
    def attrs(self) -> dict:
        return parsed_attributes(self)


@dataclass
class Event:
    sid: str
    event_type: str
    description: str
    resource_type: str
    resource_sid: str
    resource_url: str | None
    date: float
    data: dict


@dataclass
class Workspace:
    sid: str
    friendly_name: str
    event_callback_url: str | None
    events_filter: str | None
    default_activity_sid: str | None
    timeout_activity_sid: str | None
    multi_task_enabled: bool
    prioritize_queue_order: str
    date_created: float
    date_updated: float
    activities: dict[str, Activity] = field(default_factory=dict)
    channels: dict[str, TaskChannel] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)
    queues: dict[str, TaskQueue] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


# ------------------------------------------------------------ bus messages
@dataclass(frozen=True)
class EventPublished:
    """A TaskRouter Event was recorded in its workspace; `fields` are the event callback's form
    fields. The event callback subscribes to these (and Event Streams may)."""

    workspace: Workspace
    event: Event
    fields: dict[str, str]


@dataclass(frozen=True)
class TaskChange:
    """A task moved on in its lifecycle; published after TaskRouter's own events for it."""

    workspace: Workspace
    task: Task
    worker: Worker | None
    reservation: Reservation | None


class ReservationAccepted(TaskChange):
    pass


class TaskWrappedUp(TaskChange):
    pass


class TaskCompleted(TaskChange):
    pass


class TaskCanceled(TaskChange):
    pass


class TaskDeleted(TaskChange):
    pass


def parsed_attributes(holder: Worker | Task) -> dict:
    """A worker's or task's attributes, parsed once per value of `attributes` (routing reads them
    for every pending task, worker and queue on every pass): read them, never change them."""
    cached = holder.__dict__.get("_parsed")
    if cached is None or cached[0] is not holder.attributes:
        cached = holder.__dict__["_parsed"] = (holder.attributes, json.loads(holder.attributes))
    return cached[1]


@dataclass
class Load:
    """What each worker's channels carry (live tasks and pending reservations) and who is busy,
    counted in one pass over the workspace rather than once per candidate."""

    used: dict[tuple[str, str], int]  # (worker, channel) -> tasks and pending reservations
    busy: set[str]  # workers with an assigned or wrapping task or a pending reservation


@dataclass
class Pool:
    """The workers a task may go to before availability, capacity and expressions are checked."""

    workers: list[Worker]
    expressions: list[str]  # still to match, against each worker
    ignore_capacity: bool


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
        _check_expr(expr, f"filter {i} expression")
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
                _check_expr(t.get(key), f"filter {i} target {j} {key}")
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


def _check_expr(expr: str | None, what: str) -> None:
    if expr is None:
        return
    try:
        expressions.validate(expr)
    except expressions.ExpressionError as exc:
        raise bad_request(f"Invalid {what}: {exc}") from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------------- engine
class TaskRouter:
    """All workspaces of the account and the routing engine."""

    def __init__(self, core: Core, *, release_capacity_on_wrapup: bool = False) -> None:
        self.core = core
        self.workspaces: dict[str, Workspace] = {}
        self.release_capacity_on_wrapup = release_capacity_on_wrapup
        self._dispatching = False
        self._redispatch = False
        self._held: list | None = None  # events held back while a new task is first routed
        self._routing_tokens: dict[str, tuple[tuple, dict[str, tuple]]] = {}  # see _routing_state
        core.register(self)
        core.subscribe(EventPublished, self._event_callback)

    # ------------------------------------------------------------- lookups
    def ws(self, sid: str) -> Workspace:
        ws = self.workspaces.get(sid)
        if ws is None:
            raise not_found(f"The requested resource /Workspaces/{sid} was not found")
        return ws

    @staticmethod
    def _get(coll: dict, sid: str, what: str):
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
        self._get(ws.activities, activity_sid, "Activity")
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
        self._emit(
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
        _check_expr(target_workers, "TargetWorkers")
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
        self._emit(
            ws, "task-queue.created", "taskqueue", q.sid, f"TaskQueue {friendly_name} created", queue=q
        )
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
        act = self._get(ws.activities, activity_sid, "Activity")
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
        self._emit(
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
            self._emit(
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
            self._emit(
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
            self._emit(
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

    # ---------------------------------------------------------------- tasks
    def create_task(
        self,
        ws: Workspace,
        *,
        workflow_sid: str | None = None,
        attributes: str | None = None,
        priority: int | None = None,
        timeout: int | None = None,
        task_channel: str | None = None,
        routing_target: str | None = None,
        ignore_capacity: bool | None = None,
        task_queue_sid: str | None = None,
        virtual_start_time: float | None = None,
    ) -> Task:
        attributes = parse_attributes(attributes)
        if timeout is not None and not 1 <= timeout <= MAX_TASK_TIMEOUT:
            raise bad_request(f"Timeout must be between 1 and {MAX_TASK_TIMEOUT}")
        if routing_target and routing_target.startswith("WW"):
            workflow_sid, routing_target = routing_target, None
        if routing_target and not routing_target.startswith(("WK", "WQ")):
            raise bad_request("RoutingTarget must be a Worker, TaskQueue or Workflow SID")
        if routing_target and routing_target.startswith("WK"):
            self._get(ws.workers, routing_target, "Worker")
        if routing_target and routing_target.startswith("WQ"):
            self._get(ws.queues, routing_target, "TaskQueue")
        if task_queue_sid:
            self._get(ws.queues, task_queue_sid, "TaskQueue")
            routing_target = routing_target or task_queue_sid
        if workflow_sid is None and routing_target is None:
            if len(ws.workflows) != 1:
                raise bad_request("WorkflowSid is required when the Workspace has more than one Workflow")
            workflow_sid = next(iter(ws.workflows))
        if workflow_sid is not None:
            self._get(ws.workflows, workflow_sid, "Workflow")
        channel = self.channel_by_name(ws, task_channel or "default")
        now = self.core.now()
        task = Task(
            sid=self.core.sid("WT"),
            workspace_sid=ws.sid,
            attributes=attributes,
            assignment_status="pending",
            priority=priority if priority is not None else 0,
            timeout=timeout if timeout is not None else DEFAULT_TASK_TIMEOUT,
            reason=None,
            task_channel_sid=channel.sid,
            workflow_sid=workflow_sid,
            task_queue_sid=None,
            routing_target=routing_target,
            ignore_capacity=ignore_capacity,
            date_created=now,
            date_updated=now,
            task_queue_entered_date=None,
            virtual_start_time=virtual_start_time or now,
        )
        ws.tasks[task.sid] = task
        # Twilio evaluates the workflow as it creates the task: task.created already names
        # the queue, then come the workflow / queue events, then the reservation.
        self._held = []
        try:
            self._start_routing(ws, task)
        finally:
            held, self._held = self._held, None
        self._emit(ws, "task.created", "task", task.sid, f"Task {task.sid} created", task=task)
        for event, fields in held:
            self._publish(ws, event, fields)
        self.dispatch(ws)
        return task

    def _start_routing(self, ws: Workspace, task: Task) -> None:
        task.routing_started = self.core.now()
        task.target_deadline = None
        task.target_priority = None
        if task.routing_target and task.routing_target.startswith("WK"):
            queue = self._queue_for_known(ws, task)
            task.filter_idx = None
            self._enter_queue(ws, task, queue)
            return
        if task.routing_target and task.routing_target.startswith("WQ"):
            task.filter_idx = None
            self._enter_queue(ws, task, task.routing_target)
            return
        wf = ws.workflows.get(task.workflow_sid or "")
        if wf is None:
            self._cancel(ws, task, "Workflow Timeout")
            return
        self._emit(ws, "workflow.entered", "task", task.sid, f"Task {task.sid} entered Workflow", task=task)
        attrs = task.attrs
        for i, flt in enumerate(wf.config.filters):
            if expressions.matches_task(flt.expression, attrs) and self._enter_target(ws, task, wf, i, 0):
                return
        if wf.config.default_queue:
            task.filter_idx = None
            self._enter_queue(ws, task, wf.config.default_queue)
            return
        self._emit(ws, "workflow.timeout", "task", task.sid, f"Task {task.sid} matched no filter", task=task)
        self._cancel(ws, task, "Workflow Timeout")

    def _queue_for_known(self, ws: Workspace, task: Task) -> str | None:
        worker = ws.workers.get(task.routing_target or "")
        for q in ws.queues.values():
            if worker and expressions.matches_worker(q.target_workers, worker.attrs, task.attrs):
                return q.sid
        return next(iter(ws.queues), None)

    def _enter_target(self, ws: Workspace, task: Task, wf: Workflow, fi: int, ti: int) -> bool:
        """Put the task in filter `fi`, target `ti` (skipping targets whose skip_if holds)."""
        targets = wf.config.filters[fi].targets
        while ti < len(targets):
            target = targets[ti]
            queue = target.queue or task.task_queue_sid
            elapsed = sum(t.timeout or 0 for t in targets[: ti + 1])
            task.filter_idx, task.target_idx = fi, ti
            task.target_deadline = task.routing_started + elapsed if target.timeout is not None else None
            task.target_priority = target.priority
            if target.skip_if and not self._candidates(ws, task, queue, target):
                counters = self._queue_counters(ws, queue, task)
                if expressions.evaluate(target.skip_if, expressions.Scope(doc={}, counters=counters)):
                    ti += 1
                    continue
            self._emit(
                ws,
                "workflow.target-matched",
                "task",
                task.sid,
                f"Task {task.sid} matched filter {wf.config.filters[fi].name} target {ti}",
                task=task,
                extra={
                    "WorkflowFilterName": wf.config.filters[fi].name,
                    "WorkflowFilterTargetIndex": str(ti),
                },
            )
            self._enter_queue(ws, task, queue)
            return True
        return False

    def _enter_queue(self, ws: Workspace, task: Task, queue_sid: str | None) -> None:
        if queue_sid == task.task_queue_sid and task.task_queue_entered_date is not None:
            return
        moved_from = task.task_queue_sid
        task.task_queue_sid = queue_sid
        task.task_queue_entered_date = self.core.now()
        task.version += 1
        if moved_from and queue_sid:
            self._emit(
                ws,
                "task-queue.moved",
                "task",
                task.sid,
                f"Task {task.sid} moved to TaskQueue",
                task=task,
                extra={"TaskQueueSidFrom": moved_from},
            )
        if queue_sid:
            q = ws.queues[queue_sid]
            self._emit(
                ws,
                "task-queue.entered",
                "task",
                task.sid,
                f"Task {task.sid} added to TaskQueue {q.friendly_name}",
                task=task,
            )

    def _next_target(self, ws: Workspace, task: Task, *, timed_out: bool) -> None:
        """Move a pending task on to its next target; past the last one the workflow times out."""
        wf = ws.workflows.get(task.workflow_sid or "")
        if wf is None or task.filter_idx is None:
            return
        targets = wf.config.filters[task.filter_idx].targets
        if task.target_idx + 1 < len(targets):
            if not self._enter_target(ws, task, wf, task.filter_idx, task.target_idx + 1):
                self._workflow_timeout(ws, task)
        elif timed_out:
            self._workflow_timeout(ws, task)

    def _workflow_timeout(self, ws: Workspace, task: Task) -> None:
        self._emit(
            ws, "workflow.timeout", "task", task.sid, f"Task {task.sid} timed out of Workflow", task=task
        )
        self._cancel(ws, task, "Workflow Timeout")

    def _current_target(self, ws: Workspace, task: Task) -> Target | None:
        wf = ws.workflows.get(task.workflow_sid or "")
        if wf is None or task.filter_idx is None:
            return None
        return wf.config.filters[task.filter_idx].targets[task.target_idx]

    def _queue_counters(self, ws: Workspace, queue_sid: str | None, task: Task) -> dict:
        counters: dict[str, int] = {"available": 0, "unavailable": 0}
        q = ws.queues.get(queue_sid or "")
        if q is None:
            return counters
        for w in ws.workers.values():
            if not expressions.matches_worker(q.target_workers, w.attrs, task.attrs):
                continue
            act = ws.activities[w.activity_sid]
            counters["available" if act.available else "unavailable"] += 1
            counters[act.sid] = counters.get(act.sid, 0) + 1
        return counters

    def _resolve_ref(self, value: str | None, task_attrs: dict) -> Any:
        if value is None:
            return None
        if value.startswith("task."):
            return expressions.Scope(doc=task_attrs).resolve(expressions._split_key(value[5:]))
        return value

    def _candidates(
        self,
        ws: Workspace,
        task: Task,
        queue_sid: str | None,
        target: Target | None,
        load: Load | None = None,
    ) -> list[Worker]:
        """The workers a reservation for `task` may go to, idle longest first."""
        return self._matching(ws, task, self._pool(ws, task, queue_sid, target), load)

    def _pool(self, ws: Workspace, task: Task, queue_sid: str | None, target: Target | None) -> Pool:
        """Who may be considered at all: the routing target, or the target's known worker (or
        everyone), with the queue's and the target's expressions still to match."""
        if task.routing_target and task.routing_target.startswith("WK"):
            worker = ws.workers.get(task.routing_target)
            return Pool([worker] if worker else [], [], ignore_capacity=task.ignore_capacity is not False)
        q = ws.queues.get(queue_sid or "")
        if q is None:
            return Pool([], [], ignore_capacity=False)
        workers = list(ws.workers.values())
        to_match = [q.target_workers]
        if target is not None:
            tattrs = task.attrs
            known_sid = self._resolve_ref(target.known_worker_sid, tattrs)
            if target.known_worker_sid is not None:
                known = ws.workers.get(known_sid) if isinstance(known_sid, str) else None
                workers = [known] if known is not None else []
            known_name = self._resolve_ref(target.known_worker_friendly_name, tattrs)
            if target.known_worker_friendly_name is not None:
                workers = [w for w in workers if w.friendly_name == known_name]
            if target.expression:
                to_match.append(target.expression)
        return Pool(workers, to_match, ignore_capacity=False)

    def _matching(self, ws: Workspace, task: Task, pool: Pool, load: Load | None) -> list[Worker]:
        """The pool's workers that are available, with room on the task's channel, and match the
        expressions (the cheap conditions first), idle longest first."""
        channel_sid = task.task_channel_sid
        out = []
        for w in pool.workers:
            if w.sid in task.excluded or not ws.activities[w.activity_sid].available:
                continue
            wc = w.channels.get(channel_sid)
            if wc is None or not wc.available:
                continue
            if not pool.ignore_capacity:
                load = load or self.load(ws)
                if load.used.get((w.sid, channel_sid), 0) >= wc.capacity:
                    continue
                if not ws.multi_task_enabled and w.sid in load.busy:
                    continue
            if all(expressions.matches_worker(e, w.attrs, task.attrs) for e in pool.expressions):
                out.append(w)
        out.sort(key=lambda w: (w.last_assigned, w.date_created))
        return out

    def _routing_state(self, ws: Workspace, load: Load) -> tuple[tuple, dict[str, tuple]]:
        """What a pending task's candidates depend on besides the task: a token for the workspace
        (multitasking, queues, workflows, which workers exist) and one per worker (activity,
        attributes, name, channels and their load). A token stays the same object from one
        dispatch pass to the next while its value does, so a task checks it with `is`."""
        before_all, before = self._routing_tokens.get(ws.sid, ((), {}))
        everything = (
            ws.multi_task_enabled,
            tuple((q.sid, q.target_workers) for q in ws.queues.values()),
            tuple((wf.sid, wf.configuration) for wf in ws.workflows.values()),
            tuple(ws.workers),
        )
        if everything == before_all:
            everything = before_all
        tokens: dict[str, tuple] = {}
        for w in ws.workers.values():
            token = (
                w.activity_sid,
                ws.activities[w.activity_sid].available,
                w.attributes,
                w.friendly_name,
                w.sid in load.busy,
                *(
                    (
                        c.task_channel_sid,
                        c.capacity,
                        c.available,
                        load.used.get((w.sid, c.task_channel_sid), 0),
                    )
                    for c in w.channels.values()
                ),
            )
            old = before.get(w.sid)
            tokens[w.sid] = old if old == token else token
        self._routing_tokens[ws.sid] = (everything, tokens)
        return everything, tokens

    @staticmethod
    def _routing_key(task: Task) -> tuple:
        """Everything of the task itself its candidates depend on."""
        return (
            task.attributes,
            task.version,
            task.workflow_sid,
            task.filter_idx,
            task.target_idx,
            task.task_queue_sid,
            task.routing_target,
            task.ignore_capacity,
            task.task_channel_sid,
            frozenset(task.excluded),
        )

    def dispatch(self, ws: Workspace) -> None:
        """Reserve pending tasks for available workers until nothing more can be matched."""
        if self._dispatching:
            self._redispatch = True
            return
        self._dispatching = True
        try:
            while True:
                self._redispatch = False
                pending = [
                    t for t in ws.tasks.values() if t.assignment_status == "pending" and t.task_queue_sid
                ]
                pending += [
                    t
                    for t in ws.tasks.values()
                    if t.assignment_status == "pending"
                    and not t.task_queue_sid
                    and t.routing_target
                    and t.routing_target.startswith("WK")
                ]
                pending.sort(
                    key=lambda t: (
                        -(t.target_priority if t.target_priority is not None else t.priority),
                        t.task_queue_entered_date or t.date_created,
                    )
                )
                # A task no worker could take is not looked at again until something it depends
                # on changes (the task, its pool's workers or their load, the workspace's setup).
                load = None  # counted when first needed, again after each reservation
                everything: tuple = ()
                tokens: dict[str, tuple] = {}
                for task in pending:
                    if task.assignment_status != "pending":
                        continue
                    if load is None:
                        load = self.load(ws)
                        everything, tokens = self._routing_state(ws, load)
                    key = self._routing_key(task)
                    unmatched = task.__dict__.get("_unmatched")
                    if (
                        unmatched is not None
                        and unmatched[0] == key
                        and unmatched[1] is everything
                        and all(tokens.get(sid) is token for sid, token in unmatched[2])
                    ):
                        continue
                    pool = self._pool(ws, task, task.task_queue_sid, self._current_target(ws, task))
                    workers = self._matching(ws, task, pool, load)
                    if workers:
                        task.__dict__.pop("_unmatched", None)
                        self._reserve(ws, task, workers[0])
                        load = None
                    else:
                        depends = tuple((w.sid, tokens[w.sid]) for w in pool.workers)
                        task.__dict__["_unmatched"] = (key, everything, depends)
                if not self._redispatch:
                    break
        finally:
            self._dispatching = False
        self.core.notify()

    def _reserve(self, ws: Workspace, task: Task, worker: Worker) -> Reservation:
        now = self.core.now()
        wf = ws.workflows.get(task.workflow_sid or "")
        timeout = wf.task_reservation_timeout if wf else DEFAULT_RESERVATION_TIMEOUT
        res = Reservation(
            self.core.sid("WR"), ws.sid, task.sid, worker.sid, "pending", now, now, now + timeout
        )
        ws.reservations[res.sid] = res
        task.reservation_sids.append(res.sid)
        task.assignment_status = "reserved"
        task.date_updated = now
        task.version += 1
        self._emit(
            ws,
            "reservation.created",
            "reservation",
            res.sid,
            f"Reservation {res.sid} created for Worker {worker.friendly_name}",
            task=task,
            worker=worker,
            res=res,
        )
        q = ws.queues.get(task.task_queue_sid or "")
        if q and q.reservation_activity_sid:
            self.set_worker_activity(ws, worker, q.reservation_activity_sid)
        return res

    # ---------------------------------------------------------- transitions
    def _res_event(self, ws: Workspace, res: Reservation, event_type: str, verb: str) -> None:
        task = ws.tasks.get(res.task_sid)
        worker = ws.workers.get(res.worker_sid)
        self._emit(
            ws,
            event_type,
            "reservation",
            res.sid,
            f"Reservation {res.sid} {verb} by Worker {worker.friendly_name if worker else res.worker_sid}",
            task=task,
            worker=worker,
            res=res,
        )

    def _set_res(self, res: Reservation, status: str) -> None:
        res.status = status
        res.date_updated = self.core.now()
        res.deadline = None

    def active_reservation(self, ws: Workspace, task: Task) -> Reservation | None:
        for sid in reversed(task.reservation_sids):
            res = ws.reservations[sid]
            if res.status in ("pending", "accepted", "wrapping"):
                return res
        return None

    def accept(self, ws: Workspace, res: Reservation) -> None:
        if res.status != "pending":
            raise bad_request(f"Reservation {res.sid} is {res.status}, only a pending one can be accepted")
        task = ws.tasks[res.task_sid]
        worker = ws.workers[res.worker_sid]
        now = self.core.now()
        self._set_res(res, "accepted")
        task.assignment_status = "assigned"
        task.worker_sid = worker.sid
        task.date_updated = now
        task.target_deadline = None
        task.version += 1
        worker.last_assigned = now
        self._res_event(ws, res, "reservation.accepted", "accepted")
        q = ws.queues.get(task.task_queue_sid or "")
        if q and q.assignment_activity_sid:
            self.set_worker_activity(ws, worker, q.assignment_activity_sid)
        self.core.publish(ReservationAccepted(ws, task, worker, res))
        self.dispatch(ws)

    def reject(self, ws: Workspace, res: Reservation, activity_sid: str | None = None) -> None:
        if res.status != "pending":
            raise bad_request(f"Reservation {res.sid} is {res.status}, only a pending one can be rejected")
        task = ws.tasks[res.task_sid]
        self._set_res(res, "rejected")
        task.excluded.add(res.worker_sid)
        task.assignment_status = "pending"
        task.date_updated = self.core.now()
        task.version += 1
        self._res_event(ws, res, "reservation.rejected", "rejected")
        if activity_sid:
            self.set_worker_activity(ws, ws.workers[res.worker_sid], activity_sid)
        self.dispatch(ws)

    def timeout_reservation(self, ws: Workspace, res: Reservation) -> None:
        if res.status != "pending":
            return
        task = ws.tasks[res.task_sid]
        worker = ws.workers.get(res.worker_sid)
        self._set_res(res, "timeout")
        task.assignment_status = "pending"
        task.date_updated = self.core.now()
        task.version += 1
        self._res_event(ws, res, "reservation.timeout", "timed out")
        self._next_target(ws, task, timed_out=False)
        if worker and ws.timeout_activity_sid:
            self.set_worker_activity(ws, worker, ws.timeout_activity_sid)
        self.dispatch(ws)

    def wrapup(self, ws: Workspace, task: Task, reason: str | None = None) -> None:
        if task.assignment_status != "assigned":
            raise bad_request(
                f"Cannot wrap up Task {task.sid}: it is {task.assignment_status}, "
                "only an assigned Task can move to wrapping"
            )
        now = self.core.now()
        res = self.active_reservation(ws, task)
        task.assignment_status = "wrapping"
        if reason is not None:
            task.reason = reason
        task.date_updated = now
        task.version += 1
        if res:
            self._set_res(res, "wrapping")
            self._res_event(ws, res, "reservation.wrapup", "wrapped up")
        self._emit(ws, "task.wrapup", "task", task.sid, f"Task {task.sid} wrapping up", task=task)
        self.core.publish(TaskWrappedUp(ws, task, ws.workers.get(task.worker_sid or ""), res))
        self.dispatch(ws)

    def complete(self, ws: Workspace, task: Task, reason: str | None = None) -> None:
        if task.assignment_status not in ("assigned", "wrapping"):
            raise bad_request(
                f"Cannot complete Task {task.sid}: it is {task.assignment_status}, "
                "only an assigned or wrapping Task can be completed"
            )
        now = self.core.now()
        res = self.active_reservation(ws, task)
        task.assignment_status = "completed"
        task.reason = reason if reason is not None else task.reason
        task.date_updated = now
        task.version += 1
        if res:
            self._set_res(res, "completed")
            self._res_event(ws, res, "reservation.completed", "completed")
        self._emit(
            ws,
            "task.completed",
            "task",
            task.sid,
            f"Task {task.sid} completed",
            task=task,
            extra={"TaskCompletedReason": task.reason or ""},
        )
        self.core.publish(TaskCompleted(ws, task, ws.workers.get(task.worker_sid or ""), res))
        self.dispatch(ws)

    def cancel(self, ws: Workspace, task: Task, reason: str | None = None) -> None:
        if task.assignment_status not in ("pending", "reserved"):
            raise bad_request(
                f"Cannot cancel Task {task.sid}: it is {task.assignment_status}, "
                "only a pending or reserved Task can be canceled"
            )
        self._cancel(ws, task, reason)

    def _cancel(self, ws: Workspace, task: Task, reason: str | None) -> None:
        now = self.core.now()
        for sid in task.reservation_sids:
            res = ws.reservations[sid]
            if res.status == "pending":
                self._set_res(res, "canceled")
                self._res_event(ws, res, "reservation.canceled", "canceled")
        task.assignment_status = "canceled"
        task.reason = reason
        task.date_updated = now
        task.target_deadline = None
        task.version += 1
        self._emit(
            ws,
            "task.canceled",
            "task",
            task.sid,
            f"Task {task.sid} canceled: {reason or ''}".strip(),
            task=task,
            extra={"TaskCanceledReason": reason or ""},
        )
        self.core.publish(TaskCanceled(ws, task, None, None))
        self.dispatch(ws)

    def delete_task(self, ws: Workspace, task: Task) -> None:
        for sid in task.reservation_sids:
            res = ws.reservations[sid]
            if res.status == "pending":
                self._set_res(res, "canceled")
                self._res_event(ws, res, "reservation.canceled", "canceled")
        self._emit(ws, "task.deleted", "task", task.sid, f"Task {task.sid} deleted", task=task)
        del ws.tasks[task.sid]
        for sid in task.reservation_sids:
            ws.reservations.pop(sid, None)
        self.core.publish(TaskDeleted(ws, task, None, None))
        self.dispatch(ws)

    def update_task(
        self,
        ws: Workspace,
        task: Task,
        *,
        if_match: str | None = None,
        assignment_status: str | None = None,
        reason: str | None = None,
        attributes: str | None = None,
        priority: int | None = None,
        task_channel: str | None = None,
        virtual_start_time: float | None = None,
    ) -> Task:
        self.check_if_match(task, if_match)
        content = (attributes, priority, task_channel)
        if any(v is not None for v in content) and task.assignment_status in FINAL:
            raise bad_request(f"Cannot update Task {task.sid}: it is {task.assignment_status}")
        changed = False
        if attributes is not None:
            task.attributes = parse_attributes(attributes)
            changed = True
        if priority is not None:
            task.priority = priority
            changed = True
        if task_channel is not None:
            task.task_channel_sid = self.channel_by_name(ws, task_channel).sid
            changed = True
        if virtual_start_time is not None:
            task.virtual_start_time = virtual_start_time
            changed = True
        if changed:
            task.date_updated = self.core.now()
            task.version += 1
            self._emit(ws, "task.updated", "task", task.sid, f"Task {task.sid} updated", task=task)
            if attributes is not None and task.assignment_status == "pending" and not task.routing_target:
                self._start_routing(ws, task)
        if assignment_status is not None:
            if assignment_status == "canceled":
                self.cancel(ws, task, reason)
            elif assignment_status == "wrapping":
                self.wrapup(ws, task, reason)
            elif assignment_status == "completed":
                self.complete(ws, task, reason)
            else:
                raise bad_request(f"AssignmentStatus cannot be set to {assignment_status}")
        elif reason is not None:
            task.reason = reason
        self.dispatch(ws)
        return task

    @staticmethod
    def etag(task: Task) -> str:
        return str(task.version)

    def check_if_match(self, task: Task, if_match: str | None) -> None:
        if if_match is None:
            return
        wanted = if_match.strip()
        if wanted.startswith("W/"):
            wanted = wanted[2:]
        wanted = wanted.strip('"')
        if wanted != self.etag(task):
            raise TwilioError(
                412,
                PRECONDITION_FAILED,
                f"Precondition Failed: the If-Match value {if_match} does not match the Task's current "
                f"version {self.etag(task)}",
            )

    # ----------------------------------------------------------------- time
    def tick(self) -> None:
        now = self.core.now()
        for ws in list(self.workspaces.values()):
            for res in list(ws.reservations.values()):
                if res.status == "pending" and res.deadline is not None and res.deadline <= now:
                    self.timeout_reservation(ws, res)
            for task in list(ws.tasks.values()):
                if (
                    task.assignment_status in ("pending", "reserved")
                    and task.date_created + task.timeout <= now
                ):
                    self._cancel(ws, task, "Task TTL Exceeded")
            for task in list(ws.tasks.values()):
                if (
                    task.assignment_status == "pending"
                    and task.target_deadline is not None
                    and task.target_deadline <= now
                ):
                    self._next_target(ws, task, timed_out=True)
            self.dispatch(ws)

    def next_deadline(self) -> float | None:
        """The earliest time something will time out (for the background timer)."""
        times = []
        for ws in self.workspaces.values():
            times += [r.deadline for r in ws.reservations.values() if r.status == "pending" and r.deadline]
            for t in ws.tasks.values():
                if t.assignment_status in ("pending", "reserved"):
                    times.append(t.date_created + t.timeout)
                    if t.target_deadline:
                        times.append(t.target_deadline)
        return min(times) if times else None

    # --------------------------------------------------------------- events
    def task_fields(self, ws: Workspace, task: Task) -> dict[str, str]:
        now = self.core.now()
        ch = ws.channels.get(task.task_channel_sid)
        wf = ws.workflows.get(task.workflow_sid or "")
        q = ws.queues.get(task.task_queue_sid or "")
        fields = {
            "TaskSid": task.sid,
            "TaskAttributes": task.attributes,
            "TaskAge": str(int(now - task.date_created)),
            "TaskPriority": str(task.priority),
            "TaskAssignmentStatus": task.assignment_status,
            "TaskChannelSid": task.task_channel_sid,
            "TaskChannelUniqueName": ch.unique_name if ch else "",
            "TaskDateCreated": str(int(task.date_created)),
            "TaskVersion": str(task.version),
            "TaskTimeout": str(task.timeout),
        }
        if q:
            fields.update(
                {
                    "TaskQueueSid": q.sid,
                    "TaskQueueName": q.friendly_name,
                    "TaskQueueTargetExpression": q.target_workers,
                    "TaskQueueEnteredDate": str(int(task.task_queue_entered_date or now)),
                }
            )
        if wf:
            fields.update({"WorkflowSid": wf.sid, "WorkflowName": wf.friendly_name})
        if task.reason:
            fields["Reason"] = task.reason
        return fields

    def worker_fields(self, ws: Workspace, worker: Worker) -> dict[str, str]:
        act = ws.activities.get(worker.activity_sid)
        return {
            "WorkerSid": worker.sid,
            "WorkerName": worker.friendly_name,
            "WorkerAttributes": worker.attributes,
            "WorkerActivitySid": worker.activity_sid,
            "WorkerActivityName": act.friendly_name if act else "",
            "WorkerVersion": str(worker.version),
        }

    def _emit(
        self,
        ws: Workspace,
        event_type: str,
        resource_type: str,
        resource_sid: str,
        description: str,
        *,
        task: Task | None = None,
        worker: Worker | None = None,
        res: Reservation | None = None,
        queue: TaskQueue | None = None,
        extra: dict[str, str] | None = None,
    ) -> Event:
        now = self.core.now()
        fields: dict[str, str] = {
            "EventType": event_type,
            "Sid": self.core.sid("EV"),
            "AccountSid": self.core.account_sid,
            "WorkspaceSid": ws.sid,
            "WorkspaceName": ws.friendly_name,
            "EventDescription": description,
            "ResourceType": resource_type,
            "ResourceSid": resource_sid,
            "Timestamp": str(int(now)),
            "TimestampMs": str(int(now * 1000)),
        }
        if task is not None:
            fields.update(self.task_fields(ws, task))
        if worker is not None:
            fields.update(self.worker_fields(ws, worker))
        if res is not None:
            fields["ReservationSid"] = res.sid
        if queue is not None:
            fields.update(
                {
                    "TaskQueueSid": queue.sid,
                    "TaskQueueName": queue.friendly_name,
                    "TaskQueueTargetExpression": queue.target_workers,
                }
            )
        if extra:
            fields.update(extra)
        event = Event(
            sid=fields["Sid"],
            event_type=event_type,
            description=description,
            resource_type=resource_type,
            resource_sid=resource_sid,
            resource_url=None,
            date=now,
            data={_snake(k): v for k, v in fields.items() if k not in ("EventType", "Sid", "AccountSid")},
        )
        if self._held is not None:
            self._held.append((event, fields))
        else:
            self._publish(ws, event, fields)
        return event

    def _publish(self, ws: Workspace, event: Event, fields: dict[str, str]) -> None:
        ws.events.append(event)
        self.core.publish(EventPublished(ws, event, fields))

    def _event_callback(self, published: EventPublished) -> None:
        """The workspace's EventCallbackUrl hears the events its EventsFilter lets through."""
        ws = published.workspace
        if ws.event_callback_url and self._wanted(ws, published.event.event_type):
            self.core.deliver("taskrouter", ws.event_callback_url, published.fields, "POST")

    @staticmethod
    def _wanted(ws: Workspace, event_type: str) -> bool:
        if not ws.events_filter:
            return True
        return event_type in [e.strip() for e in ws.events_filter.split(",")]


# ----------------------------------------------------------------- rendering
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


# ------------------------------------------------------------ REST handlers
WS = "/v1/Workspaces/{WorkspaceSid}"


def _refuse_if_in_use(ws: Workspace, field_name: str, sid: str, what: str) -> None:
    if any(getattr(t, field_name) == sid and t.assignment_status not in FINAL for t in ws.tasks.values()):
        raise bad_request(f"Cannot delete a {what} with active Tasks")


def _tr(req: Req) -> TaskRouter:
    return req.core.product(TaskRouter)


def _ws(req: Req, key: str = "WorkspaceSid") -> Workspace:
    return _tr(req).ws(req[key])


@route("taskrouter", "/v1/Workspaces", "GET")
def list_workspaces(req: Req):
    tr = _tr(req)
    items = list(tr.workspaces.values())
    if req.get("FriendlyName"):
        items = [w for w in items if w.friendly_name == req.get("FriendlyName")]
    return paginate(req, items, "workspaces", f"{TR}/Workspaces", lambda w: workspace_json(tr, w))


@route("taskrouter", "/v1/Workspaces", "POST")
def create_workspace(req: Req):
    tr = _tr(req)
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
    tr = _tr(req)
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
            ws.default_activity_sid = tr._get(ws.activities, req.get("DefaultActivitySid"), "Activity").sid
        if req.has("TimeoutActivitySid"):
            ws.timeout_activity_sid = tr._get(ws.activities, req.get("TimeoutActivitySid"), "Activity").sid
        if req.has("PrioritizeQueueOrder"):
            ws.prioritize_queue_order = req.get("PrioritizeQueueOrder")
        ws.date_updated = tr.core.now()
    return ok(workspace_json(tr, ws))


@route("taskrouter", f"{WS}/Activities", "GET", "POST")
def activities(req: Req):
    tr, ws = _tr(req), _ws(req)
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
    tr, ws = _tr(req), _ws(req)
    act = tr._get(ws.activities, req["Sid"], "Activity")
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
    tr, ws = _tr(req), _ws(req)
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
    tr, ws = _tr(req), _ws(req)
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


@route("taskrouter", f"{WS}/TaskQueues", "GET", "POST")
def task_queues(req: Req):
    tr, ws = _tr(req), _ws(req)
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
        w = tr._get(ws.workers, req.get("WorkerSid"), "Worker")
        items = [q for q in items if expressions.matches_worker(q.target_workers, w.attrs)]
    return paginate(
        req, items, "task_queues", f"{TR}/Workspaces/{ws.sid}/TaskQueues", lambda q: queue_json(tr, ws, q)
    )


@route("taskrouter", f"{WS}/TaskQueues/{{Sid}}", "GET", "POST", "DELETE")
def task_queue(req: Req):
    tr, ws = _tr(req), _ws(req)
    q = tr._get(ws.queues, req["Sid"], "TaskQueue")
    if req.method == "DELETE":
        _refuse_if_in_use(ws, "task_queue_sid", q.sid, "TaskQueue")
        del ws.queues[q.sid]
        return no_content()
    if req.method == "POST":
        if req.has("FriendlyName"):
            q.friendly_name = req.get("FriendlyName")
        if req.has("TargetWorkers"):
            _check_expr(req.get("TargetWorkers"), "TargetWorkers")
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


@route("taskrouter", f"{WS}/Workers", "GET", "POST")
def workers(req: Req):
    tr, ws = _tr(req), _ws(req)
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
        _check_expr(expr, "TargetWorkersExpression")
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
    tr, ws = _tr(req), _ws(req)
    w = tr._get(ws.workers, req["Sid"], "Worker")
    if req.method == "DELETE":
        for res in list(ws.reservations.values()):
            if res.worker_sid == w.sid and res.status == "pending":
                tr.reject(ws, res)
        del ws.workers[w.sid]
        tr._emit(ws, "worker.deleted", "worker", w.sid, f"Worker {w.friendly_name} deleted", worker=w)
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
    tr, ws = _tr(req), _ws(req)
    w = tr._get(ws.workers, req["WorkerSid"], "Worker")
    return paginate(
        req,
        list(w.channels.values()),
        "channels",
        f"{TR}/Workspaces/{ws.sid}/Workers/{w.sid}/Channels",
        lambda wc: worker_channel_json(tr, ws, w, wc),
    )


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Channels/{{Sid}}", "GET", "POST")
def worker_channel(req: Req):
    tr, ws = _tr(req), _ws(req)
    w = tr._get(ws.workers, req["WorkerSid"], "Worker")
    wc = tr.worker_channel(w, ws, req["Sid"])
    if req.method == "POST":
        tr.update_worker_channel(ws, w, wc, req.get_int("Capacity"), req.get_bool("Available"))
    return ok(worker_channel_json(tr, ws, w, wc))


def _reservation_filter(req: Req, items: list[Reservation]) -> list[Reservation]:
    if req.get("ReservationStatus"):
        items = [r for r in items if r.status == req.get("ReservationStatus")]
    if req.get("WorkerSid"):
        items = [r for r in items if r.worker_sid == req.get("WorkerSid")]
    return items


@route("taskrouter", f"{WS}/Workers/{{WorkerSid}}/Reservations", "GET")
def worker_reservations(req: Req):
    tr, ws = _tr(req), _ws(req)
    w = tr._get(ws.workers, req["WorkerSid"], "Worker")
    items = _reservation_filter(req, [r for r in ws.reservations.values() if r.worker_sid == w.sid])
    return paginate(
        req,
        items,
        "reservations",
        f"{TR}/Workspaces/{ws.sid}/Workers/{w.sid}/Reservations",
        lambda r: reservation_json(tr, ws, r, via_worker=True),
    )


def _update_reservation(req: Req, ws: Workspace, res: Reservation) -> None:
    tr = _tr(req)
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
    tr, ws = _tr(req), _ws(req)
    res = tr._get(ws.reservations, req["Sid"], "Reservation")
    if res.worker_sid != req["WorkerSid"]:
        raise not_found(f"Reservation {res.sid} not found")
    if req.method == "POST":
        _update_reservation(req, ws, res)
    return ok(reservation_json(tr, ws, res, via_worker=True))


@route("taskrouter", f"{WS}/Workflows", "GET", "POST")
def workflows(req: Req):
    tr, ws = _tr(req), _ws(req)
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
    tr, ws = _tr(req), _ws(req)
    wf = tr._get(ws.workflows, req["Sid"], "Workflow")
    if req.method == "DELETE":
        _refuse_if_in_use(ws, "workflow_sid", wf.sid, "Workflow")
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
                    tr._start_routing(ws, t)
        tr.dispatch(ws)
    return ok(workflow_json(tr, ws, wf))


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
        _check_expr(expr, "EvaluateTaskAttributes")
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
    tr, ws = _tr(req), _ws(req)
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
    tr, ws = _tr(req), _ws(req)
    t = tr._get(ws.tasks, req["Sid"], "Task")
    if req.method == "DELETE":
        tr.check_if_match(t, req.headers.get("if-match"))
        tr.delete_task(ws, t)
        return no_content()
    if req.method == "POST":
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


@route("taskrouter", f"{WS}/Tasks/{{TaskSid}}/Reservations", "GET")
def task_reservations(req: Req):
    tr, ws = _tr(req), _ws(req)
    t = tr._get(ws.tasks, req["TaskSid"], "Task")
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
    tr, ws = _tr(req), _ws(req)
    t = tr._get(ws.tasks, req["TaskSid"], "Task")
    res = tr._get(ws.reservations, req["Sid"], "Reservation")
    if res.task_sid != t.sid:
        raise not_found(f"Reservation {res.sid} not found")
    if req.method == "POST":
        _update_reservation(req, ws, res)
    return ok(reservation_json(tr, ws, res))


@route("taskrouter", f"{WS}/Events", "GET")
def events(req: Req):
    tr, ws = _tr(req), _ws(req)
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
    tr, ws = _tr(req), _ws(req)
    for e in ws.events:
        if e.sid == req["Sid"]:
            return ok(event_json(tr, ws, e))
    raise not_found(f"Event {req['Sid']} not found")
