"""The page the Flex plugin's browser test loads: a stand-in Flex agent desktop
(flex-plugin/test-harness/) with the **built** plugin bundle, as Flex would load it.

    GET /agent/<session>                 the desktop for one agent and task (config inlined)
    GET /harness/<file>                  flex-runtime.js (the stand-in Twilio.Flex), desktop.css
    GET /vendor/react.js, react-dom.js   React 17's UMD builds from flex-plugin/node_modules
    GET /plugins/plugin-chat-transfer.js the bundle `flex-plugin build` made
    GET /api/messages/<CH>               the chat's messages, as Flex's Conversations client has them
    GET /api/task/<WT>                   the task's status, as Flex's TaskRouter client has it
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ops.demo_web import QuietHandler, parse_attributes
from sandbox import Sandbox

PLUGIN = Path(__file__).resolve().parents[2] / "flex-plugin"
BUNDLE = PLUGIN / "build" / "plugin-chat-transfer.js"
HARNESS = PLUGIN / "test-harness"
VENDOR = {
    "react.js": PLUGIN / "node_modules" / "react" / "umd" / "react.production.min.js",
    "react-dom.js": PLUGIN / "node_modules" / "react-dom" / "umd" / "react-dom.production.min.js",
}
HARNESS_FILES = {"flex-runtime.js", "desktop.css"}


def _missing_files() -> list[Path]:
    return [path for path in (BUNDLE, *VENDOR.values()) if not path.exists()]


def plugin_missing() -> str | None:
    """Why the built plugin cannot be loaded and `build_plugin` cannot make it, or None."""
    missing = _missing_files()
    if missing and shutil.which("npm") is None:
        names = ", ".join(str(path.relative_to(PLUGIN)) for path in missing)
        return f"no built Flex plugin ({names}) and no npm on PATH to build it (flex-plugin/, npm run build)"
    return None


def build_plugin() -> None:
    """Installs and builds the plugin as `.ci/run` does, when its bundle is not there yet, so that the
    README's test command needs nothing run before it (about two minutes, once per checkout)."""
    if not _missing_files():
        return
    env = {
        **os.environ,
        "npm_config_cache": str(PLUGIN / ".npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    if not all(path.exists() for path in VENDOR.values()):
        subprocess.run(["npm", "ci", "--loglevel=error"], cwd=PLUGIN, env=env, check=True, timeout=900)
    subprocess.run(["npm", "run", "build"], cwd=PLUGIN, env=env, check=True, timeout=600)


class FlexHarness:
    """Serves the stand-in desktop; `sandbox` is what the page's SDK stand-ins read."""

    def __init__(self) -> None:
        self.sandbox: Sandbox | None = None
        self.sessions: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def desktop(self, config: dict[str, Any]) -> str:
        """The URL of an agent desktop showing `config` (agent, task, service, directory)."""
        session = uuid.uuid4().hex
        self.sessions[session] = config
        return f"{self.origin}/agent/{session}"

    def __enter__(self) -> FlexHarness:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _page(self, session: str) -> bytes | None:
        config = self.sessions.get(session)
        if config is None:
            return None
        inline = json.dumps(config).replace("</", "<\\/")
        return (HARNESS / "index.html").read_text().replace("__HARNESS_CONFIG__", inline).encode()

    def _messages(self, conversation_sid: str) -> dict[str, Any]:
        assert self.sandbox is not None
        return {
            "messages": [
                {
                    "sid": m["sid"],
                    "index": m["index"],
                    "author": m["author"],
                    "body": m["body"],
                    "attributes": parse_attributes(m.get("attributes")),
                }
                for m in self.sandbox.messages(conversation_sid)
            ]
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        harness = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                head, rest = parts[0], "/".join(parts[1:])
                if head == "agent" and (page := harness._page(rest)) is not None:
                    return self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
                if head == "harness" and rest in HARNESS_FILES:
                    kind = "text/css" if rest.endswith(".css") else "text/javascript"
                    return self._send(HTTPStatus.OK, (HARNESS / rest).read_bytes(), f"{kind}; charset=utf-8")
                if head == "vendor" and rest in VENDOR:
                    return self._send(
                        HTTPStatus.OK, VENDOR[rest].read_bytes(), "text/javascript; charset=utf-8"
                    )
                if head == "plugins" and rest == BUNDLE.name:
                    return self._send(HTTPStatus.OK, BUNDLE.read_bytes(), "text/javascript; charset=utf-8")
                if head == "api" and harness.sandbox is not None:
                    kind, _, sid = rest.partition("/")
                    if kind == "messages":
                        answer = harness._messages(sid)
                    elif kind == "task":
                        answer = {"status": harness.sandbox.task_status(sid)}
                    else:
                        answer = None
                    if answer is not None:
                        return self._json(HTTPStatus.OK, answer)
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        return Handler
