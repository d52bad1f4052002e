"""The whole service on one machine, against the built-in Twilio sandbox.

Used by `chat-transfer demo`, by `chat-transfer up` when no Twilio account is configured,
and by the end-to-end tests: a real redis-server (embedded, or `REDIS_URL`), the sandbox
served over HTTP, the receiver under gunicorn, real `celery worker` processes and,
optionally, `celery beat` — each service a real OS process, as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import requests

from ops.embedded_redis import EmbeddedRedis, free_port

if TYPE_CHECKING:
    from ops.setup_account import AccountSetup

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = "") -> T:
    """Poll until `predicate()` is truthy; raise naming `what` when it never is."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # what is waited on may not be up yet
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last: {last_error!r}")


class ServiceProcess:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = Path(tempfile.mkstemp(prefix=f"cft-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("ab")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.args,
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self._log = self.log_path.open("ab")
        self.process = self._spawn()

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def start_worker(env: dict[str, str], *, concurrency: int = 2, name: str = "worker") -> ServiceProcess:
    hostname = f"{name}-{os.getpid()}-{free_port()}@localhost"
    args = [
        sys.executable, "-m", "celery", "-A", "worker", "worker",
        "--loglevel", "INFO", "-Q", "events,transfers,maintenance",
        "--concurrency", str(concurrency), "--hostname", hostname,
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    process = ServiceProcess(name, args, env)
    wait_for(lambda: "ready." in process.log() or not process.alive(), 60, 0.05, f"{name} ready")
    if not process.alive():
        raise RuntimeError(f"{name} did not start:\n{process.log()[-3000:]}")
    return process


def start_beat(env: dict[str, str]) -> ServiceProcess:
    schedule = tempfile.mkdtemp(prefix="cft-beat-") + "/schedule"
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        schedule,
    ]
    return ServiceProcess("beat", args, env)


def start_web(
    env: dict[str, str], *, workers: int = 2, port: int | None = None
) -> tuple[ServiceProcess, str]:
    port = port or free_port()
    args = [sys.executable, "-m", "ops.cli", "web", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--workers", str(workers)]
    web = ServiceProcess("web", args, env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok or not web.alive(), 60, 0.05, "receiver")
    if not web.alive():
        raise RuntimeError(f"receiver did not start:\n{web.log()[-3000:]}")
    return web, base


def inherited_env() -> dict[str, str]:
    """This process's environment without the service's own settings (TWILIO_, CELERY_, REDIS_), so
    a child service reads only the settings it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CELERY_", "REDIS_"))}


def intake_env(
    redis_url: str, account_sid: str, auth_token: str, workspace_sid: str, workflow_sid: str, **extra: str
) -> dict[str, str]:
    """Settings for a receiver and workers that only take events: the Twilio API base URL is a free
    port nothing answers on, as intake makes no Twilio calls. `extra` overrides any of them."""
    return {
        **inherited_env(),
        "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token,
        "TWILIO_FLEX_WORKSPACE_SID": workspace_sid,
        "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID": workflow_sid,
        "REDIS_URL": redis_url,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
        **extra,
    }


DEFAULT_WORKERS = (
    {"name": "alice", "full_name": "Alice Adams", "skills": ["sales", "support"]},
    {"name": "bob", "full_name": "Bob Brown", "public_identity": "Bob", "skills": ["sales"]},
    {"name": "carol", "full_name": "Carol Chen", "skills": ["support"]},
)
DEFAULT_QUEUES = {"Sales": "routing.skills HAS 'sales'", "Support": "routing.skills HAS 'support'"}


@dataclass
class LocalStack:
    """Start with `start()`; everything it started stops with `stop()`."""

    worker_count: int = 1
    worker_concurrency: int = 2
    beat: bool = False
    web_workers: int = 2
    web_port: int | None = None
    redis_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    sandbox_options: dict[str, Any] = field(default_factory=dict)
    workers_spec: tuple[dict[str, Any], ...] = DEFAULT_WORKERS
    queues: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUEUES))
    progress: Callable[[str], None] = lambda _message: None
    # "callback": the workspace's event callback and the Conversations webhook; "event-streams":
    # an Event Streams sink and subscription made by `chat-transfer setup --event-streams`'s code
    intake: str = "callback"

    def start(self) -> LocalStack:
        from sandbox import Sandbox

        self._embedded: EmbeddedRedis | None = None
        if not self.redis_url:
            self._embedded = EmbeddedRedis().start()
            self.redis_url = self._embedded.url
        self.progress(f"redis at {self.redis_url}")
        self.sandbox = Sandbox(**{"seed": 7, **self.sandbox_options})
        self.sandbox.start()
        self.setup = self.sandbox.seed_flex(queues=self.queues, workers=[dict(w) for w in self.workers_spec])
        self.progress(f"Twilio sandbox at {self.sandbox.base_url}")
        self.env = self.service_env()
        self.web, self.base_url = start_web(self.env, workers=self.web_workers, port=self.web_port)
        self.progress(f"receiver at {self.base_url}")
        if self.intake == "event-streams":
            self.subscribe_event_streams()
        else:
            self.sandbox.set_event_callback(f"{self.base_url}/webhooks/taskrouter")
            self.sandbox.set_conversations_webhook(f"{self.base_url}/webhooks/conversations")
        self.workers = [
            start_worker(self.env, concurrency=self.worker_concurrency, name=f"worker{i + 1}")
            for i in range(self.worker_count)
        ]
        self.progress(f"{self.worker_count} celery worker process(es) ready")
        self.beat_process = start_beat(self.env) if self.beat else None
        self.redis = self.state_client(decode_responses=True)
        return self

    def account_setup(self) -> AccountSetup:
        """`chat-transfer setup`'s code against this stack's sandbox (its output kept quiet)."""
        import io

        from ops.setup_account import AccountSetup, SetupSettings

        settings = SetupSettings(  # type: ignore[call-arg]
            _env_file=None,
            twilio_account_sid=self.sandbox.account_sid,
            twilio_auth_token=self.sandbox.auth_token,
            twilio_api_base_url=self.sandbox.base_url,
        )
        return AccountSetup(settings, out=io.StringIO())

    def subscribe_event_streams(self, public_url: str | None = None) -> list[str]:
        """The sink and subscription `chat-transfer setup --event-streams` makes, by its code."""
        from ops.event_streams_setup import EventStreamsSetup

        setup = EventStreamsSetup(self.account_setup())
        return setup.ensure(public_url or self.base_url, None, dry_run=False)

    def state_client(self, **options: Any) -> redis.Redis:
        """A client of the service's Redis however its settings reach it (Sentinel, TLS), for
        reading what it tracks: it never waits for replicas."""
        from worker.adapters.redis_clients import redis_client
        from worker.settings import settings_from

        return redis_client(settings_from(self.env, redis_wait_replicas=0), **options)

    def service_env(self) -> dict[str, str]:
        keep = inherited_env()
        keep.pop("CHAT_TRANSFER_FAULT_INJECTION", None)
        return {
            **keep,
            "TWILIO_ACCOUNT_SID": self.sandbox.account_sid,
            "TWILIO_AUTH_TOKEN": self.sandbox.auth_token,
            "TWILIO_FLEX_WORKSPACE_SID": self.setup.workspace_sid,
            "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID": self.setup.chat_transfer_workflow_sid,
            "TWILIO_API_BASE_URL": self.sandbox.base_url or "",
            "REDIS_URL": self.redis_url or "",
            "RECONCILE_INTERVAL_SECONDS": "5",
            # Tests and the demo poll GET /transfers/<id> every few milliseconds from one address.
            "BROWSER_RATE_LIMIT": "100000/minute",
            **self.settings,
        }

    def stop(self) -> None:
        for process in [
            *getattr(self, "workers", []),
            getattr(self, "beat_process", None),
            getattr(self, "web", None),
        ]:
            if process is not None:
                process.stop()
        if getattr(self, "sandbox", None) is not None:
            self.sandbox.stop()
        if getattr(self, "_embedded", None) is not None:
            self._embedded.stop()

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()  # whatever did start must not outlive a failed start
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---- reading what the service tracks ---------------------------------------------------

    def tracked(self, conversation_sid: str) -> dict[str, Any]:
        """The chat's state with every field (the stored form leaves out those equal to their
        defaults); {} for a chat never tracked."""
        import json
        from dataclasses import asdict

        from worker.domain.model import ConversationState

        raw = self.redis.get(f"cft:conv:{conversation_sid}")
        return asdict(ConversationState.from_dict(json.loads(raw))) if raw else {}

    def notices(self, conversation_sid: str) -> list[dict[str, Any]]:
        import json

        found = []
        for message in self.sandbox.messages(conversation_sid):
            attributes = json.loads(message.get("attributes") or "{}")
            if attributes.get("notification"):
                found.append({**attributes, "body": message.get("body")})
        return found
