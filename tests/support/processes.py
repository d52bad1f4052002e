"""Real processes for end-to-end tests: celery workers, the receiver under gunicorn, and waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

from worker.embedded_redis import free_port

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = "") -> T:
    """Poll until `predicate()` is truthy; fail with `what` when it never is."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the thing waited on may not be up yet
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last: {last_error!r}")


class ServiceProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"cft-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
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

    def stop(self, timeout: float = 10.0) -> None:
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
    worker = ServiceProcess(name, args, env)
    wait_for(lambda: "ready." in worker.log() or not worker.alive(), 30, 0.05, f"{name} ready")
    assert worker.alive(), worker.log()
    return worker


def start_web(env: dict[str, str], *, workers: int = 2) -> tuple[ServiceProcess, str]:
    port = free_port()
    args = [sys.executable, "-m", "worker.cli", "web", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--workers", str(workers)]
    web = ServiceProcess("web", args, env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 30, 0.05, "receiver healthz")
    return web, base
