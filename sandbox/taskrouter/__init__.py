"""TaskRouter: workspaces, activities, channels, workers, queues, workflows, tasks,
reservations, the routing engine and the event callback.

Modules: `model` (the resources), `workflow_config` (Configuration parsing), `routing`
(workflow evaluation, dispatch), `lifecycle` (task and reservation transitions, timers),
`events` (Events and the bus messages), `callback` (the EventCallbackUrl subscriber),
`resources` (workspaces, activities, channels, workers, queues, workflows), `engine` (the
`TaskRouter` made of those parts), `render` (REST shapes), `handlers` (REST, per resource).

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

from . import handlers  # noqa: F401  (registers the REST handlers)
from .engine import TaskRouter
from .events import EventPublished, ReservationAccepted, TaskChangeRequested
from .model import Reservation, Task, Worker, Workspace
from .render import event_json, reservation_json, task_json, worker_json

__all__ = [
    "EventPublished",
    "Reservation",
    "ReservationAccepted",
    "Task",
    "TaskChangeRequested",
    "TaskRouter",
    "Worker",
    "Workspace",
    "event_json",
    "reservation_json",
    "task_json",
    "worker_json",
]
