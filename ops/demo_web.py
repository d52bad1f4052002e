"""`chat-transfer demo --web`: the customer's side of the demo's chats, in a browser.

A tiny demo-only HTTP server (not the production receiver): it serves the reference page
`ops/static/customer-chat.html` and, as JSON, the messages of the demo's conversations read
from the sandbox — the same messages, with the same attributes, a customer's chat app gets from
Conversations. The page renders the service's notices as notices, not as chat lines.

    GET /                      the page (also /customer-chat.html, /customer-chat.js)
    GET /api/chats             {"chats": [{"sid", "title", "state"}]}
    GET /api/chats/<CH>        {"sid", "title", "state", "me", "names", "messages": [...]}
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TextIO

from worker.domain.notices import display_name, identity_of

STATIC = Path(__file__).resolve().parent / "static"
FILES = {
    "/": ("customer-chat.html", "text/html; charset=utf-8"),
    "/customer-chat.html": ("customer-chat.html", "text/html; charset=utf-8"),
    "/customer-chat.js": ("customer-chat.js", "text/javascript; charset=utf-8"),
}
NOTICE_AUTHOR = "system"


class QuietHandler(BaseHTTPRequestHandler):
    """A GET handler for a test or demo page: no access log, whole answers, never cached."""

    def log_message(self, *_args: object) -> None:  # quiet: the demo prints its own lines
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")


class ChatSource(Protocol):
    """What the page reads (the sandbox has it)."""

    def conversation(self, conversation_sid: str) -> dict[str, Any]: ...
    def messages(self, conversation_sid: str) -> list[dict[str, Any]]: ...
    def participants(self, conversation_sid: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class DemoChat:
    sid: str
    title: str


def parse_attributes(raw: object) -> dict[str, Any]:
    """A message's or participant's attributes (a JSON string in Twilio's answers) as a dict."""
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def customer_identity(
    participants: Iterable[Mapping[str, Any]], messages: Iterable[Mapping[str, Any]]
) -> str:
    """The customer: the guest participant, else the first author who is neither us nor an agent."""
    for participant in participants:
        if parse_attributes(participant.get("attributes")).get("member_type") == "guest" and participant.get(
            "identity"
        ):
            return str(participant["identity"])
    for message in messages:
        author = message.get("author")
        if (
            author
            and author != NOTICE_AUTHOR
            and not parse_attributes(message.get("attributes")).get("notification")
        ):
            return str(author)
    return ""


def agent_names(worker_attributes: Iterable[Mapping[str, Any]], default: str = "Agent") -> dict[str, str]:
    """Chat identity → the name the customer sees, as the service names agents in its notices."""
    names = {}
    for attributes in worker_attributes:
        identity = identity_of(dict(attributes))
        if identity:
            names[identity] = display_name(dict(attributes), default)
    return names


class CustomerPageServer:
    """Serves the page and the chats' messages on host:port (0: a free port) in a thread."""

    def __init__(
        self,
        source: ChatSource,
        chats: Iterable[DemoChat],
        names: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.source = source
        self.chats = {chat.sid: chat for chat in chats}
        self.names = dict(names or {})
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> CustomerPageServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="customer-page", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> CustomerPageServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---- what the API answers ----------------------------------------------------------------

    def chat_list(self) -> dict[str, Any]:
        return {
            "chats": [
                {"sid": c.sid, "title": c.title, "state": self.source.conversation(c.sid).get("state")}
                for c in self.chats.values()
            ]
        }

    def chat_view(self, sid: str) -> dict[str, Any] | None:
        chat = self.chats.get(sid)
        if chat is None:
            return None
        messages = self.source.messages(sid)
        return {
            "sid": sid,
            "title": chat.title,
            "state": self.source.conversation(sid).get("state"),
            "me": customer_identity(self.source.participants(sid), messages),
            "names": self.names,
            "messages": [
                {
                    "index": m.get("index"),
                    "author": m.get("author"),
                    "body": m.get("body"),
                    "attributes": m.get("attributes"),
                    "dateCreated": m.get("date_created"),
                }
                for m in messages
            ],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in FILES:
                    name, content_type = FILES[path]
                    self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), content_type)
                elif path == "/api/chats":
                    self._json(HTTPStatus.OK, server.chat_list())
                elif path.startswith("/api/chats/"):
                    view = server.chat_view(path.removeprefix("/api/chats/"))
                    if view is None:
                        self._json(HTTPStatus.NOT_FOUND, {"error": "not one of the demo's chats"})
                    else:
                        self._json(HTTPStatus.OK, view)
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

        return Handler


def serve_demo_page(demo: Any, *, port: int, out: TextIO = sys.stdout) -> None:
    """Serve the demo's chats until Ctrl-C or SIGTERM (the demo's stack stays up meanwhile)."""
    sandbox = demo.sb
    chats = [
        DemoChat(story.conversation_sid, story.title) for story in demo.stories if story.conversation_sid
    ]
    workers = [json.loads(sandbox.worker(sid)["attributes"]) for sid in demo.setup.workers.values()]
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    with CustomerPageServer(sandbox, chats, agent_names(workers), port=port) as page:
        print(f"customer page: {page.url} (Ctrl-C stops everything)", file=out, flush=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
