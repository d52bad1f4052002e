"""The Celery application: `celery -A worker worker|beat` finds it as `worker.app`."""

from celery import Celery

app = Celery("flex_chat_transfer", include=["worker.tasks"])
app.config_from_object("celeryconfig")
