"""TaskRouter's resources as the sandbox keeps them (not their REST shapes: see `render`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

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
# "canceled is one of two terminal states ... the Task is deleted five minutes after moving into
# this state" (Lifecycle of a Task: Task state)
TERMINAL_TASK_RETENTION = 300.0
TTL_EXCEEDED = "Task TTL Exceeded"
MAX_ASSIGNMENTS_EXCEEDED = "Task TTL Exceeded or Max assignment count exceeded"
DEFAULT_MAX_ASSIGNMENT_COUNT = 100  # Twilio's own limit is not documented


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
    ended_at: float | None = None  # when it was completed or canceled (deleted 5 minutes later)

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
