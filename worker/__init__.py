"""flex-chat-transfer's worker side: the Celery app, its tasks, and the domain code they run.

`app` is loaded lazily so that importing `worker.settings` or the domain does not configure Celery.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.celery_app import app

        return app
    raise AttributeError(name)
