"""Fixtures for the sandbox's own tests: a started sandbox, a seeded Flex account, the
official twilio client pointed at it, and a webhook receiver."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sandbox import Sandbox

TWILIO_URL = re.compile(r"^https://(?P<product>[a-z-]+)(?:\.[a-z0-9-]+)*\.twilio\.com(?P<path>/.*)?$")


class RewritingHttpClient(TwilioHttpClient):
    """Sends what the twilio library addresses to https://{product}(.edge.region).twilio.com/{path}
    to {base}/{product}/{path} instead (the TWILIO_API_BASE_URL layout)."""

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        m = TWILIO_URL.match(url)
        if m:
            url = f"{self.base_url}/{m.group('product')}{m.group('path') or ''}"
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


def twilio_client(sb: Sandbox, username: str | None = None, password: str | None = None) -> Client:
    if username:
        return Client(username, password, sb.account_sid, http_client=RewritingHttpClient(sb.base_url))
    return Client(sb.account_sid, sb.auth_token, http_client=RewritingHttpClient(sb.base_url))


def invite_routing(flex, workflow_sid: str | None = None, **attributes) -> dict:
    """An Interactions `Routing` for an invite on the seeded workspace (Chat Transfer workflow)."""
    return {
        "properties": {
            "workspace_sid": flex.workspace_sid,
            "workflow_sid": workflow_sid or flex.chat_transfer_workflow_sid,
            "task_channel_unique_name": "chat",
            "attributes": attributes,
        }
    }


def transfer_task(sb, flex, conversation_sid: str, worker: str) -> str:
    """A plain TaskRouter transfer task on the chat for `worker` (Chat Transfer workflow)."""
    t = (
        twilio_client(sb)
        .taskrouter.v1.workspaces(flex.workspace_sid)
        .tasks.create(
            workflow_sid=flex.chat_transfer_workflow_sid,
            task_channel="chat",
            attributes=json.dumps(
                {
                    "conversationSid": conversation_sid,
                    "transferTargetType": "worker",
                    "transferTargetSid": flex.workers[worker],
                }
            ),
        )
    )
    return t.sid


@pytest.fixture
def sb():
    sandbox = Sandbox(seed=7)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def flex(sb):
    return sb.seed_flex(
        queues={"Sales": "routing.skills HAS 'sales'", "Support": "routing.skills HAS 'support'"},
        workers=[
            {"name": "alice", "skills": ["sales"], "full_name": "Alice Anders"},
            {"name": "bob", "skills": ["sales", "support"], "public_identity": "Bobby"},
            {"name": "carol", "skills": ["support"], "activity": "Offline"},
        ],
    )


@pytest.fixture
def client(sb):
    return twilio_client(sb)


@dataclass
class Received:
    method: str
    path: str
    url: str
    headers: dict
    form: dict
    query: dict
    body: str
    status: int  # what the receiver answered


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@dataclass
class Receiver:
    """A tiny HTTP server that records what it receives and answers from `script`, then `status`."""

    status: int = 204
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _app(self, environ, start_response):
        req = Request(environ)
        raw_url = req.host_url.rstrip("/") + environ.get(
            "REQUEST_URI", req.full_path
        )  # as sent, for signatures
        body = req.get_data(as_text=True)  # read first: the form is then parsed from it
        with self._cond:
            status = self.script.pop(0) if self.script else self.status
            self.received.append(
                Received(
                    req.method,
                    req.path,
                    raw_url,
                    dict(req.headers),
                    req.form.to_dict(),
                    req.args.to_dict(),
                    body,
                    status,
                )
            )
            self._cond.notify_all()
        return Response(status=status)(environ, start_response)

    def events(self, path: str | None = None, key: str = "EventType") -> list[str]:
        with self._cond:
            return [
                r.form.get(key) or r.query.get(key) for r in self.received if path is None or r.path == path
            ]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"got {len(self.received)} webhooks, wanted {count}")
            return list(self.received)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()
