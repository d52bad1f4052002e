"""`chat-transfer web`: the receiver under gunicorn, a production-grade WSGI server."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from worker.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from webhooks.app import create_app

        return create_app()


def serve(settings: Settings, host: str, port: int, workers: int | None = None) -> None:
    workers = workers or max(2, multiprocessing.cpu_count())
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-transfer-metrics-")
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
        }
    ).run()
