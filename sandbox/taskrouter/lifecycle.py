"""A task's lifecycle: created (and routed), reserved, accepted / rejected / timed out,
wrapping, completed, canceled, deleted, updated (If-Match on its version), and the timers
(reservation timeouts, target timeouts, task TTL)."""

from __future__ import annotations

from ..core import Core, parse_attributes
from ..errors import PRECONDITION_FAILED, TwilioError, bad_request
from .events import ReservationAccepted
from .model import (
    DEFAULT_TASK_TIMEOUT,
    FINAL,
    MAX_ASSIGNMENTS_EXCEEDED,
    MAX_TASK_TIMEOUT,
    TTL_EXCEEDED,
    Reservation,
    Task,
    Workspace,
)


class Lifecycle:
    """Tasks and reservations moving on (a part of `TaskRouter`)."""

    core: Core
    workspaces: dict[str, Workspace]
    _held: list | None
    task_retention: float
    max_assignment_count: int | None

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
            self.lookup(ws.workers, routing_target, "Worker")
        if routing_target and routing_target.startswith("WQ"):
            self.lookup(ws.queues, routing_target, "TaskQueue")
        if task_queue_sid:
            self.lookup(ws.queues, task_queue_sid, "TaskQueue")
            routing_target = routing_target or task_queue_sid
        if workflow_sid is None and routing_target is None:
            if len(ws.workflows) != 1:
                raise bad_request("WorkflowSid is required when the Workspace has more than one Workflow")
            workflow_sid = next(iter(ws.workflows))
        if workflow_sid is not None:
            self.lookup(ws.workflows, workflow_sid, "Workflow")
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
            self.start_routing(ws, task)
        finally:
            held, self._held = self._held, None
        self.emit(ws, "task.created", "task", task.sid, f"Task {task.sid} created", task=task)
        for event, fields in held:
            self._publish(ws, event, fields)
        self.dispatch(ws)
        return task

    # ---------------------------------------------------------- transitions
    def _res_event(self, ws: Workspace, res: Reservation, event_type: str, verb: str) -> None:
        task = ws.tasks.get(res.task_sid)
        worker = ws.workers.get(res.worker_sid)
        self.emit(
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
        self._cancel_at_max_assignments(ws, task)
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
        if not self._cancel_at_max_assignments(ws, task):
            self._next_target(ws, task, timed_out=False)
        if worker and ws.timeout_activity_sid:
            self.set_worker_activity(ws, worker, ws.timeout_activity_sid)
        self.dispatch(ws)

    def _cancel_at_max_assignments(self, ws: Workspace, task: Task) -> bool:
        """A task that went from pending to reserved Max Assignment Count times and is pending
        again is canceled ("Lifecycle of a Task: Task state")."""
        limit = self.max_assignment_count
        if limit is None or len(task.reservation_sids) < limit or task.assignment_status != "pending":
            return False
        self._cancel(ws, task, MAX_ASSIGNMENTS_EXCEEDED)
        return True

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
        self.emit(ws, "task.wrapup", "task", task.sid, f"Task {task.sid} wrapping up", task=task)
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
        task.ended_at = now
        task.version += 1
        if res:
            self._set_res(res, "completed")
            self._res_event(ws, res, "reservation.completed", "completed")
        self.emit(
            ws,
            "task.completed",
            "task",
            task.sid,
            f"Task {task.sid} completed",
            task=task,
            extra={"TaskCompletedReason": task.reason or ""},
        )
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
        self._cancel_pending_reservations(ws, task)
        task.assignment_status = "canceled"
        task.reason = reason
        task.date_updated = now
        task.ended_at = now
        task.target_deadline = None
        task.version += 1
        self.emit(
            ws,
            "task.canceled",
            "task",
            task.sid,
            f"Task {task.sid} canceled: {reason or ''}".strip(),
            task=task,
            extra={"TaskCanceledReason": reason or ""},
        )
        self.dispatch(ws)

    def delete_task(self, ws: Workspace, task: Task) -> None:
        """`DELETE /Tasks/{WT}`: task.deleted at once."""
        self._cancel_pending_reservations(ws, task)
        self.emit(ws, "task.deleted", "task", task.sid, f"Task {task.sid} deleted", task=task)
        self._forget(ws, task)
        self.dispatch(ws)

    def _cancel_pending_reservations(self, ws: Workspace, task: Task) -> None:
        for sid in task.reservation_sids:
            res = ws.reservations[sid]
            if res.status == "pending":
                self._set_res(res, "canceled")
                self._res_event(ws, res, "reservation.canceled", "canceled")

    def _forget(self, ws: Workspace, task: Task) -> None:
        """The task and its reservations are gone: fetching them is 404 from now on."""
        del ws.tasks[task.sid]
        for sid in task.reservation_sids:
            ws.reservations.pop(sid, None)

    def _system_delete(self, ws: Workspace, task: Task) -> None:
        """An assigned or wrapping task past its TTL: "a task is deleted via the system, after
        the task reaches its TTL" (task.system-deleted, TaskRouter Events reference)."""
        self.emit(
            ws,
            "task.system-deleted",
            "task",
            task.sid,
            f"Task {task.sid} deleted by the system: TTL reached",
            task=task,
        )
        self._forget(ws, task)

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
            self.emit(ws, "task.updated", "task", task.sid, f"Task {task.sid} updated", task=task)
            if attributes is not None and task.assignment_status == "pending" and not task.routing_target:
                self.start_routing(ws, task)
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
                    self._cancel(ws, task, TTL_EXCEEDED)
                elif (
                    task.assignment_status in ("assigned", "wrapping")
                    and task.date_created + task.timeout <= now
                ):
                    self._system_delete(ws, task)
            for task in list(ws.tasks.values()):
                # deleted five minutes after it ended, without an event: task.deleted "does not
                # include auto-deleted Tasks after cancellation / completion" (Events reference)
                if task.ended_at is not None and task.ended_at + self.task_retention <= now:
                    self._forget(ws, task)
            for task in list(ws.tasks.values()):
                if (
                    task.assignment_status == "pending"
                    and task.target_deadline is not None
                    and task.target_deadline <= now
                ):
                    self._next_target(ws, task, timed_out=True)
            self.dispatch(ws)
