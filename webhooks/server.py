"""`chat-transfer web`: the receiver under gunicorn, a production-grade WSGI server."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from webhooks.browser_guard import SLOTS_ENV, make_slots
from worker.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], load_app: Callable[[], Any] | None = None) -> None:
        self.options = options
        self.load_app = load_app
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        if self.load_app is not None:  # `python -m bench`'s bare 204 app, under the same settings
            app = self.load_app()
        else:
            from webhooks.app import create_app

            app = create_app()
        # Everything loaded so far (Flask, Celery, kombu, twilio: ~75,000 objects) lives as long as
        # the worker; frozen, it is left out of the collector's full passes, which otherwise stall
        # a request every few thousand for tens of milliseconds (the open-loop benchmark's p99).
        gc.freeze()
        return app


def gunicorn_options(settings: Settings, host: str, port: int, workers: int | None = None) -> dict[str, Any]:
    """The receiver's gunicorn settings (shared with the benchmark's ceiling endpoint)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers or max(2, multiprocessing.cpu_count()),
        "worker_class": "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "loglevel": settings.log_level.lower(),
    }


def serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None = None,
    load_app: Callable[[], Any] | None = None,
) -> None:
    options = gunicorn_options(settings, host, port, workers)
    share_metrics_between_workers()
    slots = browser_slots(settings, options["workers"])
    os.environ[SLOTS_ENV] = make_slots(tempfile.mkdtemp(prefix="chat-transfer-browser-"), slots)
    _Gunicorn(options, load_app).run()


def browser_slots(settings: Settings, workers: int) -> int:
    """How many of the workers may be busy with browser requests at once (webhooks/browser_guard.py):
    BROWSER_CONCURRENCY, else half of them, at least one."""
    return settings.browser_concurrency or max(1, workers // 2)


def share_metrics_between_workers() -> str:
    """Point prometheus_client at a directory every gunicorn worker writes its counters to, so that
    whichever worker answers `GET /metrics` reports what all of them counted.

    prometheus_client chooses between in-memory and shared counters once, when it is first
    imported; imported earlier in this process (the master, whose modules every worker inherits),
    each worker would count in its own memory and `/metrics` would show nothing. That is refused
    here, loudly, rather than served as empty counters.
    """
    values = sys.modules.get("prometheus_client.values")
    if values is not None and values.ValueClass is values.MutexValue:
        raise RuntimeError(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: the receiver's "
            "counters would stay in each worker's memory; import the app only inside the workers"
        )
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-transfer-metrics-")
    return os.environ["PROMETHEUS_MULTIPROC_DIR"]
