"""Reading back what happened, for the `Sandbox` facade (a part of it): resources as the REST API
shows them, the webhooks and Event Streams batches sent, the requests received, and whether any
was one Twilio would reject."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .conversations import Conversations, conversation_json, message_json, participant_json
from .core import Core
from .delivery import Deliverer, Delivery
from .errors import TwilioError
from .events import SinkDeliverer, SinkDelivery
from .flex import Flex, channel_json
from .journal import Journal, RequestRecord
from .taskrouter import TaskRouter, Worker, Workspace, event_json, reservation_json, task_json, worker_json


class Reading:
    """What the sandbox saw and holds (a part of `Sandbox`)."""

    core: Core
    taskrouter: TaskRouter
    conversations: Conversations
    flex: Flex
    deliverer: Deliverer
    sink_deliverer: SinkDeliverer
    journal: Journal
    requests: list[RequestRecord]
    violations: list
    unmodelled: list
    errors: list[dict]
    _workspace: Callable[[str | None], Workspace]
    find_worker: Callable[[str], tuple[Workspace, Worker]]

    def reservations(
        self, *, task_sid: str | None = None, worker_sid: str | None = None, status: str | None = None
    ) -> list[dict]:
        with self.core.lock:
            out = []
            for ws in self.taskrouter.workspaces.values():
                for r in ws.reservations.values():
                    if (
                        (task_sid is None or r.task_sid == task_sid)
                        and (worker_sid is None or r.worker_sid == worker_sid)
                        and (status is None or r.status == status)
                    ):
                        out.append(reservation_json(self.taskrouter, ws, r))
            return out

    @property
    def interaction_misuses(self) -> list[dict]:
        """Interaction tasks whose status was changed (or that were deleted) through TaskRouter's
        REST API, which the Flex docs call unsupported: ``{task_sid, channel_sid, what}``."""
        with self.core.lock:
            return list(self.flex.misuses)

    def interaction_channel(self, channel_sid: str) -> dict:
        """An interaction channel as the REST API shows it."""
        with self.core.lock:
            return channel_json(self.flex.channels[channel_sid])

    # -------------------------------------------------------------- reading
    def task(self, task_sid: str) -> dict:
        """The task as the REST API shows it (plus nothing else)."""
        with self.core.lock:
            ws, t = self.taskrouter.find_task(task_sid)
            return task_json(self.taskrouter, ws, t)

    def task_status(self, task_sid: str) -> str | None:
        """The task's assignment_status, or None if it was deleted."""
        with self.core.lock:
            try:
                return self.taskrouter.find_task(task_sid)[1].assignment_status
            except TwilioError:
                return None

    def tasks(
        self,
        *,
        workspace_sid: str | None = None,
        status: str | None = None,
        where: Callable[[dict], bool] | None = None,
    ) -> list[dict]:
        """Tasks (REST shape, attributes as a JSON string), optionally by status or a predicate
        on the parsed attributes."""
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            out = []
            for t in ws.tasks.values():
                if status and t.assignment_status != status:
                    continue
                if where and not where(t.attrs):
                    continue
                out.append(task_json(self.taskrouter, ws, t))
            return out

    def worker(self, worker_sid: str) -> dict:
        with self.core.lock:
            ws, w = self.find_worker(worker_sid)
            return worker_json(self.taskrouter, ws, w)

    def events(
        self,
        *,
        types: Iterable[str] | None = None,
        task_sid: str | None = None,
        workspace_sid: str | None = None,
    ) -> list[dict]:
        """TaskRouter events produced so far, oldest first (whether or not a callback URL was set)."""
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            wanted = set(types) if types else None
            return [
                event_json(self.taskrouter, ws, e)
                for e in ws.events
                if (wanted is None or e.event_type in wanted)
                and (task_sid is None or e.data.get("task_sid") == task_sid)
            ]

    def conversation(self, conversation_sid: str) -> dict:
        with self.core.lock:
            return conversation_json(self.conversations, self.conversations.get(conversation_sid))

    def messages(self, conversation_sid: str) -> list[dict]:
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            return [message_json(self.conversations, conv, m) for m in conv.messages]

    def participants(self, conversation_sid: str) -> list[dict]:
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            return [participant_json(self.conversations, conv, p) for p in conv.participants.values()]

    def deliveries(self, *, kind: str | None = None, event_type: str | None = None) -> list[Delivery]:
        """Webhooks produced so far (each with its attempts and status codes)."""
        with self.core.lock:
            return [
                d
                for d in self.deliverer.deliveries
                if (kind is None or d.kind == kind) and (event_type is None or d.event_type == event_type)
            ]

    def sink_deliveries(self, *, sink_sid: str | None = None) -> list[SinkDelivery]:
        """Event Streams' batches produced so far (each with its events and attempts)."""
        with self.core.lock:
            return [d for d in self.sink_deliverer.deliveries if sink_sid is None or d.sink_sid == sink_sid]

    def requests_to(
        self, product: str | None = None, method: str | None = None, template: str | None = None
    ) -> list[RequestRecord]:
        with self.core.lock:
            return [
                r
                for r in self.requests
                if (product is None or r.product == product)
                and (method is None or r.method == method)
                and (template is None or r.template == template)
            ]

    def assert_faithful(self) -> None:
        """Raise AssertionError listing every request Twilio would have rejected, every
        unmodelled operation used and every sandbox error."""
        with self.core.lock:
            problems = [f"{v.method} /{v.product}{v.path}: {v.kind}: {v.message}" for v in self.violations]
            problems += [
                f"{v.method} /{v.product}{v.path}: not modelled: {v.message}" for v in self.unmodelled
            ]
            problems += [f"sandbox error on {e['path']}: {e['error']}" for e in self.errors]
        if problems:
            raise AssertionError("the sandbox saw requests Twilio would reject:\n  " + "\n  ".join(problems))
