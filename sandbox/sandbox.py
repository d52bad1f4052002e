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

from .actors import Actors
from .app import Site, make_app
from .clock import Clock
from .conversations import POST_EVENTS, Conversations
from .core import Core, Tick
from .delivery import Deliverer
from .events import EventStreams, SinkDeliverer
from .faults import Faults
from .flex import AgentDesktop, Flex, Resumption, worker_identity
from .journal import Journal
from .reading import Reading
from .seeding import FlexSetup, flex_template_workflows, flex_worker_attributes
from .server import close_http_server, make_http_server
from .taskrouter import TaskRouter, Workspace


class Sandbox(Actors, Reading):
    """One fake Twilio account: this part builds it, serves it, moves its time and seeds it; what
    customers and agents do is `Actors`'s, reading back what happened is `Reading`'s."""

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
