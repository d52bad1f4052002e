"""The routing engine: a task enters its workflow (first matching filter, else the default
filter), works through the filter's targets, and `dispatch` reserves pending tasks for the
workers who may take them (available, room on the channel, matching expressions), idle
longest first. A task no worker could take is not looked at again until something its
candidates depend on changes."""

from __future__ import annotations

from typing import Any

from .. import expressions
from ..core import Core
from .model import (
    DEFAULT_RESERVATION_TIMEOUT,
    Load,
    Pool,
    Reservation,
    Target,
    Task,
    Worker,
    Workflow,
    Workspace,
)


class Routing:
    """Workflow evaluation and reservations (a part of `TaskRouter`)."""

    core: Core
    _dispatching: bool
    _redispatch: bool
    _routing_tokens: dict[str, tuple[tuple, dict[str, tuple]]]

    def start_routing(self, ws: Workspace, task: Task) -> None:
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
        self.emit(ws, "workflow.entered", "task", task.sid, f"Task {task.sid} entered Workflow", task=task)
        attrs = task.attrs
        for i, flt in enumerate(wf.config.filters):
            if expressions.matches_task(flt.expression, attrs) and self._enter_target(ws, task, wf, i, 0):
                return
        if wf.config.default_queue:
            task.filter_idx = None
            self._enter_queue(ws, task, wf.config.default_queue)
            return
        self.emit(ws, "workflow.timeout", "task", task.sid, f"Task {task.sid} matched no filter", task=task)
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
            self.emit(
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
            self.emit(
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
            self.emit(
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
        self.emit(
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
        self.emit(
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
