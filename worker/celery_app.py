"""The Celery application: `celery -A worker worker|beat` finds it as `worker.app`."""

from typing import Any

from celery import Celery
from celery.signals import setup_logging

app = Celery("flex_chat_transfer", include=["worker.tasks"])
app.config_from_object("celeryconfig")


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    """Celery's own log setup is replaced by the service's JSON lines."""
    from worker.logs import configure_logging
    from worker.settings import get_settings

    configure_logging(get_settings().log_level)
