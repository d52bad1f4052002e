"""The `Sandbox`: one stateful fake Twilio account, served over HTTP, with a Python API
to seed it, act as customers and agents, move time, inject faults and read back what
happened.  See the package docstring for the tour.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .app import Site, make_app
from .clock import Clock
from .conversations import (
    POST_EVENTS,
    Conversations,
    Origin,
    conversation_json,
    message_json,
    participant_json,
)
from .core import Core, Tick
from .delivery import Deliverer, Delivery
from .errors import TwilioError
from .events import EventStreams, SinkDeliverer, SinkDelivery
from .faults import Faults
from .flex import AgentDesktop, Flex, Resumption, channel_json, worker_identity
from .journal import Journal, RequestRecord
from .seeding import (
    Chat,
    FlexSetup,
    flex_template_workflows,
    flex_worker_attributes,
    web_chat_task_attributes,
)
from .server import close_http_server, make_http_server
from .taskrouter import TaskRouter, Worker, Workspace, event_json, reservation_json, task_json, worker_json


class Sandbox:
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        seed: int = 0,
        frozen_clock: bool = False,
        clock: Clock | None = None,
        flex_orchestration: bool = True,
        release_capacity_on_wrapup: bool = False,
        task_retention: float = 300.0,
        max_assignment_count: int | None = 100,
        webhook_timeout: float = 15.0,
        tick_interval: float = 0.1,
        event_streams_batch_size: int = 20,
        event_streams_backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        rng = random.Random(f"{seed}-account")
        self.account_sid = account_sid or "AC" + f"{rng.getrandbits(128):032x}"
        self.auth_token = auth_token or f"{rng.getrandbits(128):032x}"
        self.clock = clock or Clock(frozen=frozen_clock)
        self.core = Core(self.account_sid, self.auth_token, seed, self.clock)
        self.faults = Faults(seed)
        self.deliverer = Deliverer(self.auth_token, self.faults, timeout=webhook_timeout)
        self.core.deliver = self._deliver
        self.taskrouter = TaskRouter(
            self.core,
            release_capacity_on_wrapup=release_capacity_on_wrapup,
            task_retention=task_retention,
            max_assignment_count=max_assignment_count,
        )
        self.conversations = Conversations(self.core)
        self.flex = Flex(self.core, self.taskrouter, self.conversations)
        self.desktop = AgentDesktop(self.core, self.flex)
        self.resumption = Resumption(self.core, self.flex)
        self.sink_deliverer = SinkDeliverer(
            self.auth_token, self.faults, backoff=event_streams_backoff, seed=seed
        )
        self.event_streams = EventStreams(
            self.core,
            self.sink_deliverer.enqueue,
            self.faults,
            forget=self.sink_deliverer.forget,
            batch_size=event_streams_batch_size,
        )
        if not flex_orchestration:
            self.flex.flags.add_agent_on_accept = False
        self.api_keys = self.core.api_keys
        self.journal = Journal()
        self.requests = self.journal.requests
        self.violations = self.journal.violations
        self.unmodelled = self.journal.unmodelled
        self.errors = self.journal.errors
        self.app = make_app(Site(self.core, self.journal, self.faults, self.deliverer, lambda: self.base_url))
        self.tick_interval = tick_interval
        self._server = None
        self._threads: list[threading.Thread] = []
        self._running = False
        self.host = "127.0.0.1"
        self.port: int | None = None

    # ------------------------------------------------------------- serving
    @property
    def base_url(self) -> str | None:
        """The TWILIO_API_BASE_URL to point the service at (None until started)."""
        return f"http://{self.host}:{self.port}" if self.port else None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0: a free port) in background threads; returns the base URL."""
        if self._running:
            return self.base_url
        self._server = make_http_server(host, port, self.app)
        self.host, self.port = host, self._server.server_port
        self._running = True
        self.deliverer.start()
        self.sink_deliverer.start()
        server = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-http",
            daemon=True,
        )
        ticker = threading.Thread(target=self._tick_loop, name="sandbox-timers", daemon=True)
        self._threads = [server, ticker]
        for t in self._threads:
            t.start()
        return self.base_url

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        close_http_server(self._server)
        self.deliverer.stop()
        self.sink_deliverer.stop()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.start(host, port)
        try:
            while self._running:
                time.sleep(0.5)
        finally:
            self.stop()

    def _tick_loop(self) -> None:
        while self._running:
            time.sleep(self.tick_interval)
            with self.core.lock:
                self.tick()

    def _deliver(self, kind: str, url: str, fields: dict, method: str = "POST") -> None:
        self.deliverer.enqueue(kind, url, fields, method)

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        """Fire every timer that is due (reservation and target timeouts, task TTLs, conversation timers)."""
        with self.core.lock:
            self.core.publish(Tick(self.core.now()))
        self.core.notify()

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward and fire what became due."""
        with self.core.lock:
            self.clock.advance(seconds)
            self.tick()

    def now(self) -> float:
        return self.clock.time()

    # --------------------------------------------------------------- waiting
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook produced so far has been delivered (or given up), Event Streams'
        batches included (their retries too)."""
        deadline = time.monotonic() + timeout
        with self.core.lock:
            self.event_streams.flush()
        return self.deliverer.wait_idle(timeout) and self.sink_deliverer.wait_idle(
            max(0.0, deadline - time.monotonic())
        )

    def pause_webhooks(self) -> None:
        """Hold every webhook back (they queue up, in order) until `resume_webhooks`."""
        self.deliverer.pause()

    def resume_webhooks(self) -> None:
        self.deliverer.resume()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
        """Wait until `predicate()` (called under the sandbox lock) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self.core.changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(message or f"condition not met within {timeout}s")
                self.core.changed.wait(min(left, 0.05))

    # --------------------------------------------------------------- seeding
    def add_api_key(self, sid: str | None = None, secret: str | None = None) -> tuple[str, str]:
        """Register an API key (SK...) + secret that may authenticate REST calls."""
        sid = sid or self.core.sid("SK")
        secret = secret or f"{random.getrandbits(128):032x}"
        self.api_keys[sid] = secret
        return sid, secret

    def create_workspace(self, friendly_name: str = "Flex Task Assignment", **kwargs) -> str:
        with self.core.lock:
            return self.taskrouter.create_workspace(friendly_name, **kwargs).sid

    def _workspace(self, workspace_sid: str | None) -> Workspace:
        if workspace_sid:
            return self.taskrouter.ws(workspace_sid)
        if not self.taskrouter.workspaces:
            raise LookupError("no workspace yet: call seed_flex() or create_workspace() first")
        return next(iter(self.taskrouter.workspaces.values()))

    def add_queue(self, name: str, target_workers: str = "1==1", *, workspace_sid: str | None = None) -> str:
        with self.core.lock:
            return self.taskrouter.create_queue(self._workspace(workspace_sid), name, target_workers).sid

    def add_workflow(
        self,
        name: str,
        configuration: dict | str,
        *,
        reservation_timeout: int = 120,
        workspace_sid: str | None = None,
    ) -> str:
        config = configuration if isinstance(configuration, str) else json.dumps(configuration)
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            return self.taskrouter.create_workflow(ws, name, config, reservation_timeout).sid

    def add_worker(
        self,
        name: str,
        *,
        full_name: str | None = None,
        public_identity: str | None = None,
        skills: Iterable[str] = (),
        activity: str = "Available",
        chat_capacity: int = 2,
        attributes: dict | None = None,
        roles: Iterable[str] = ("agent",),
        token: str | None = None,
        workspace_sid: str | None = None,
    ) -> str:
        """A Flex worker (contact_uri client:<name>) with a Flex token registered for it."""
        attrs = flex_worker_attributes(name, full_name, public_identity, skills, roles, attributes)
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            tr = self.taskrouter
            offline = tr.activity_by_name(ws, "Offline").sid
            w = tr.create_worker(ws, name, json.dumps(attrs), offline)
            chat = tr.channel_by_name(ws, "chat")
            tr.update_worker_channel(ws, w, w.channels[chat.sid], capacity=chat_capacity)
            self.flex.register_token(w.sid, token=token or f"token-{name}-{w.sid[-8:]}", roles=list(roles))
            if activity != "Offline":
                tr.set_worker_activity(ws, w, tr.activity_by_name(ws, activity).sid)
            return w.sid

    def seed_flex(
        self,
        *,
        queues: dict[str, str] | None = None,
        workers: list[dict] | None = None,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        conversations_webhook_url: str | None = None,
        conversations_filters: Iterable[str] | None = None,
        reservation_timeout: int = 120,
        transfer_target_timeout: int | None = None,
        workspace_name: str = "Flex Task Assignment",
    ) -> FlexSetup:
        """A Flex-like account: workspace, an "Everyone" queue plus `queues` (name ->
        TargetWorkers), `workers` (dicts of `add_worker` arguments, "name" required),
        the "Assign to Anyone" workflow and the "Chat Transfer" workflow of the Flex
        project template (known-worker rule on task.transferTargetSid, one rule per
        queue on transferQueueName excluding the transferring agent with
        ``worker.contact_uri != task.ignoreWorkerContactUri``)."""
        with self.core.lock:
            tr = self.taskrouter
            ws = tr.create_workspace(
                workspace_name, event_callback_url=event_callback_url, events_filter=events_filter
            )
            qs = {"Everyone": tr.create_queue(ws, "Everyone", "1==1").sid}
            for qname, expr in (queues or {}).items():
                if qname != "Everyone":
                    qs[qname] = tr.create_queue(ws, qname, expr).sid
            anyone, transfer = flex_template_workflows(qs, transfer_target_timeout)
            wf_anyone = tr.create_workflow(ws, "Assign to Anyone", json.dumps(anyone), reservation_timeout)
            wf_transfer = tr.create_workflow(ws, "Chat Transfer", json.dumps(transfer), reservation_timeout)
            setup = FlexSetup(
                workspace_sid=ws.sid,
                assign_to_anyone_workflow_sid=wf_anyone.sid,
                chat_transfer_workflow_sid=wf_transfer.sid,
                chat_service_sid=self.conversations.default_service_sid,
                queues=qs,
                activities={a.friendly_name: a.sid for a in ws.activities.values()},
                channels={c.unique_name: c.sid for c in ws.channels.values()},
            )
            for spec_ in workers or []:
                spec_ = dict(spec_)
                name = spec_.pop("name")
                sid = self.add_worker(name, workspace_sid=ws.sid, **spec_)
                w = ws.workers[sid]
                setup.workers[name] = sid
                setup.identities[name] = worker_identity(w.attributes, w.friendly_name)
                setup.tokens[name] = next(t.token for t in self.flex.tokens.values() if t.worker_sid == sid)
            if conversations_webhook_url:
                self.set_conversations_webhook(conversations_webhook_url, conversations_filters)
            return setup

    def set_event_callback(
        self, url: str | None, events_filter: str | None = None, workspace_sid: str | None = None
    ) -> None:
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            ws.event_callback_url = url
            ws.events_filter = events_filter

    def set_conversations_webhook(
        self,
        url: str | None,
        filters: Iterable[str] | None = None,
        method: str = "POST",
        service_sid: str | None = None,
    ) -> None:
        """Point the post-event webhook at `url` (global, or for one service)."""
        with self.core.lock:
            cfg = (
                self.conversations.service(service_sid).webhooks
                if service_sid
                else self.conversations.global_webhooks
            )
            cfg.post_webhook_url = url
            cfg.filters = list(filters) if filters is not None else list(POST_EVENTS)
            cfg.method = method
            cfg.target = "webhook"

    def register_token(
        self,
        worker_sid: str | None,
        *,
        token: str | None = None,
        roles: Iterable[str] = ("agent",),
        ttl: float = 3600,
        identity: str | None = None,
    ) -> str:
        """A Flex token the IAM validate endpoint will accept (until `ttl` seconds pass)."""
        with self.core.lock:
            return self.flex.register_token(
                worker_sid, token=token, roles=list(roles), ttl=ttl, identity=identity
            )

    def token_for(self, worker_sid: str) -> str:
        with self.core.lock:
            return next(t.token for t in self.flex.tokens.values() if t.worker_sid == worker_sid)

    # ------------------------------------------------------------ customers
    def start_chat(
        self,
        customer: str = "customer",
        *,
        first_message: str | None = "Hello, I need help",
        attributes: dict | None = None,
        channel_type: str = "web",
        interactions: bool = False,
        workflow_sid: str | None = None,
        task_channel: str = "chat",
        priority: int | None = None,
        timeout: int | None = None,
        workspace_sid: str | None = None,
    ) -> Chat:
        """A customer starts a web chat: conversation + customer participant (+ first
        message), then a task as Studio's Send to Flex makes it (attributes
        conversationSid, channelType, name...); with ``interactions=True`` through the
        Flex Interactions API (attributes also carry flexInteractionSid and
        flexInteractionChannelSid)."""
        with self.core.lock:
            ws = self._workspace(workspace_sid)
            wf_sid = workflow_sid or next(
                (w.sid for w in ws.workflows.values() if w.friendly_name == "Assign to Anyone"),
                next(iter(ws.workflows), None),
            )
            cv = self.conversations
            sdk = Origin(source="SDK", fire=True, client_identity=customer)
            conv = cv.create(friendly_name=f"Chat with {customer}", attributes="{}", origin=Origin(fire=True))
            part = cv.add_participant(
                conv,
                identity=customer,
                attributes=json.dumps({"member_type": "guest"}),
                origin=Origin(fire=True),
            )
            if first_message:
                cv.add_message(conv, author=customer, body=first_message, origin=sdk)
            task_attrs = {**web_chat_task_attributes(customer, conv.sid, channel_type), **(attributes or {})}
            if interactions:
                routing = {
                    "properties": {
                        "workspace_sid": ws.sid,
                        "workflow_sid": wf_sid,
                        "task_channel_unique_name": task_channel,
                        "attributes": task_attrs,
                        **({"priority": priority} if priority is not None else {}),
                        **({"timeout": timeout} if timeout is not None else {}),
                    }
                }
                channel = {
                    "type": channel_type,
                    "initiated_by": "customer",
                    "properties": {"media_channel_sid": conv.sid},
                }
                inter = self.flex.create_interaction(channel, routing)
                task_sid = inter.routing["properties"]["sid"]
                return Chat(conv.sid, task_sid, customer, part.sid, ws.sid, inter.sid, inter.channel_sid)
            task = self.taskrouter.create_task(
                ws,
                workflow_sid=wf_sid,
                attributes=json.dumps(task_attrs),
                priority=priority,
                timeout=timeout,
                task_channel=task_channel,
            )
            return Chat(conv.sid, task.sid, customer, part.sid, ws.sid)

    def customer_message(
        self, conversation_sid: str, body: str, *, identity: str | None = None, attributes: dict | None = None
    ) -> str:
        """The customer writes in the chat (onMessageAdded, Source SDK); returns the IM sid."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            if identity is None:
                identity = next((p.identity for p in conv.participants.values() if p.identity), "customer")
            return self._sdk_message(conv, identity, body, attributes)

    def close_conversation(
        self, conversation_sid: str, *, state: str = "closed", by: str | None = None
    ) -> None:
        """The customer (or their app) ends the chat: the conversation moves to `state`
        (onConversationUpdated + onConversationStateUpdated fire)."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            origin = Origin(source="SDK", fire=True, client_identity=by, reason="API")
            self.conversations.update(conv, state=state, origin=origin)

    def customer_leave(
        self, conversation_sid: str, identity: str | None = None, *, close: bool = True
    ) -> None:
        """The customer leaves (onParticipantRemoved) and, by default, the chat is closed."""
        with self.core.lock:
            conv = self.conversations.get(conversation_sid)
            for p in list(conv.participants.values()):
                if (identity and p.identity == identity) or (
                    identity is None and json.loads(p.attributes).get("member_type") == "guest"
                ):
                    self.conversations.remove_participant(
                        conv, p, Origin(source="SDK", fire=True, client_identity=p.identity)
                    )
                    identity = identity or p.identity
            if close and conv.state != "closed":
                self.close_conversation(conversation_sid, by=identity)

    # ---------------------------------------------------------------- agents
    def find_worker(self, worker_sid: str) -> tuple[Workspace, Worker]:
        return self.taskrouter.find_worker(worker_sid)

    def worker_sid(self, name: str) -> str:
        with self.core.lock:
            for ws in self.taskrouter.workspaces.values():
                for w in ws.workers.values():
                    if w.friendly_name == name:
                        return w.sid
        raise LookupError(f"no worker named {name}")

    def set_activity(self, worker_sid: str, activity: str) -> None:
        """Move a worker to an activity by name ("Available", "Offline", ...) or WA sid."""
        with self.core.lock:
            ws, w = self.find_worker(worker_sid)
            self.taskrouter.set_worker_activity(ws, w, self.taskrouter.activity_by_name(ws, activity).sid)

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

    def pending_reservation(
        self, task_sid: str | None = None, worker_sid: str | None = None, timeout: float = 5.0
    ) -> dict:
        """Wait for a pending reservation (of the task / for the worker) and return it."""
        return self.wait_for(
            lambda: next(
                iter(self.reservations(task_sid=task_sid, worker_sid=worker_sid, status="pending")), None
            ),
            timeout,
            f"no pending reservation for task={task_sid} worker={worker_sid}",
        )

    def _reservation(self, reservation_sid: str):
        for ws in self.taskrouter.workspaces.values():
            if reservation_sid in ws.reservations:
                return ws, ws.reservations[reservation_sid]
        raise LookupError(f"no reservation {reservation_sid}")

    def accept(self, reservation_sid: str) -> None:
        """The agent accepts (Flex then adds them to the conversation)."""
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            self.taskrouter.accept(ws, res)

    def reject(self, reservation_sid: str, activity: str | None = None) -> None:
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            act = self.taskrouter.activity_by_name(ws, activity).sid if activity else None
            self.taskrouter.reject(ws, res, act)

    def time_out(self, reservation_sid: str) -> None:
        """Let a pending reservation time out now (as if TaskReservationTimeout passed)."""
        with self.core.lock:
            ws, res = self._reservation(reservation_sid)
            self.taskrouter.timeout_reservation(ws, res)

    def accept_task(self, task_sid: str, worker_sid: str | None = None, timeout: float = 5.0) -> str:
        """Wait for the task's pending reservation (for `worker_sid` if given), accept it; returns WR."""
        res = self.pending_reservation(task_sid=task_sid, worker_sid=worker_sid, timeout=timeout)
        self.accept(res["sid"])
        return res["sid"]

    def wrapup(self, task_sid: str, reason: str | None = None) -> None:
        """Task -> wrapping through TaskRouter only (as a REST call would): the chat is untouched,
        the agent stays in it. The agent's own actions are `agent_end_chat` / `agent_leave`."""
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.wrapup(ws, task, reason)

    def complete(self, task_sid: str, reason: str | None = "completed") -> None:
        """Task -> completed through TaskRouter only (the agent's Complete after wrap-up)."""
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.complete(ws, task, reason)

    def cancel_task(self, task_sid: str, reason: str | None = None) -> None:
        with self.core.lock:
            ws, task = self.taskrouter.find_task(task_sid)
            self.taskrouter.cancel(ws, task, reason)

    def agent_end_chat(self, task_sid: str) -> None:
        """The agent's native End chat in Flex UI 2.x: the chat ends for everybody (an interaction
        task: its channel is closed — tasks not yet assigned canceled, assigned ones to wrap-up,
        conversation closed; an older chat: the task to wrap-up and the conversation closed)."""
        with self.core.lock:
            self.desktop.end_chat(task_sid)

    def agent_leave(self, task_sid: str, status: str = "closed") -> None:
        """The agent leaves, the chat goes on (the template's Leave chat): an interaction task's
        agent participant to `status` (``closed``: task completed, agent out of conversation and
        channel; ``wrapup``: task to wrap-up, agent out of the conversation); an older chat: the
        task to wrap-up and the agent out of the conversation."""
        with self.core.lock:
            self.desktop.leave(task_sid, status)

    def flex_leave(self, task_sid: str) -> None:
        """Flex's Leave: the agent out, their task to wrap-up, the channel inactive, the
        conversation open (inactive); the customer's next message routes a new task."""
        with self.core.lock:
            self.desktop.flex_leave(task_sid)

    def pause_chat(self, task_sid: str) -> None:
        """Flex's Pause: the task completes (capacity released), the agent stays in the chat, the
        channel is ``pause`` until `resume` (a new task for the same agent)."""
        with self.core.lock:
            self.desktop.pause(task_sid)

    def park(self, task_sid: str) -> None:
        """The template's Park an interaction: the agent's participant closed, the routing kept in
        the conversation's attributes; the customer's next message (or `resume`) invites."""
        with self.core.lock:
            self.desktop.park(task_sid)

    def resume(self, conversation_sid: str) -> str:
        """The agent resumes a paused chat or unparks a parked one; returns the new task's SID."""
        with self.core.lock:
            return self.desktop.resume(conversation_sid)

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

    def agent_message(
        self, conversation_sid: str, worker_sid: str, body: str, attributes: dict | None = None
    ) -> str:
        """The agent writes in the chat from Flex (onMessageAdded, Source SDK)."""
        with self.core.lock:
            _, w = self.find_worker(worker_sid)
            identity = worker_identity(w.attributes, w.friendly_name)
            return self._sdk_message(self.conversations.get(conversation_sid), identity, body, attributes)

    def _sdk_message(self, conv, identity: str, body: str, attributes: dict | None) -> str:
        """A message written from a Conversations SDK client (Source SDK, ClientIdentity)."""
        msg = self.conversations.add_message(
            conv,
            author=identity,
            body=body,
            attributes=json.dumps(attributes) if attributes else None,
            origin=Origin(source="SDK", fire=True, client_identity=identity),
        )
        return msg.sid

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
