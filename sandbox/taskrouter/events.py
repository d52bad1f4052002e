"""TaskRouter Events: each change records an Event in its workspace (the `/Events` list) and
publishes it on the shared bus (`EventPublished`, with the event callback's form fields); an
accepted reservation is published as `ReservationAccepted` (Flex's orchestration hears it), and a
REST call about to change a task's status as `TaskChangeRequested`.
While a new task is first routed its events are held, so that task.created comes first."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core import Core
from .model import Event, Reservation, Task, TaskQueue, Worker, Workspace


# ------------------------------------------------------------ bus messages
@dataclass(frozen=True)
class EventPublished:
    """A TaskRouter Event was recorded in its workspace; `fields` are the event callback's form
    fields. The event callback subscribes to these (and Event Streams may)."""

    workspace: Workspace
    event: Event
    fields: dict[str, str]


@dataclass(frozen=True)
class ReservationAccepted:
    """A worker accepted a reservation: the task is assigned to them (Flex's orchestration adds
    them to the chat). Published after TaskRouter's own events for it."""

    workspace: Workspace
    task: Task
    worker: Worker
    reservation: Reservation


@dataclass(frozen=True)
class TaskChangeRequested:
    """A REST call asks TaskRouter to change a task's status or delete it (`what`: the new
    AssignmentStatus, or ``delete``); published before TaskRouter carries it out."""

    workspace: Workspace
    task: Task
    what: str


def snake_case(name: str) -> str:
    """A callback field's name as TaskRouter's Event resource (and Event Streams) spell it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Events:
    """Making and publishing TaskRouter Events (a part of `TaskRouter`)."""

    core: Core
    _held: list | None

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

    def emit(
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
            data={snake_case(k): v for k, v in fields.items() if k not in ("EventType", "Sid", "AccountSid")},
        )
        if self._held is not None:
            self._held.append((event, fields))
        else:
            self._publish(ws, event, fields)
        return event

    def _publish(self, ws: Workspace, event: Event, fields: dict[str, str]) -> None:
        ws.events.append(event)
        self.core.publish(EventPublished(ws, event, fields))
