"""Celery configuration (read by `worker.celery_app`), following Celery's task guide.

Small tasks that take IDs and event fields, JSON only, acknowledged late so a worker lost
mid-task gives the message back, prefetch 1, and separate queues: webhook events never wait
behind transfer orchestration or reconciliation.
"""

from kombu import Exchange, Queue

from worker.adapters.redis_clients import broker_config
from worker.settings import load_settings_or_exit

_settings = load_settings_or_exit()
# REDIS_URL's or CELERY_BROKER_URL's Redis, over TLS or through Sentinel, as kombu documents them.
_broker = broker_config(_settings, socket_timeout=2)

EVENTS_QUEUE = "events"
TRANSFERS_QUEUE = "transfers"
MAINTENANCE_QUEUE = "maintenance"

broker_url = _broker.url
broker_use_ssl = _broker.use_ssl
broker_connection_retry_on_startup = True
broker_connection_timeout = 2
broker_transport_options = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A message a lost worker never acknowledged goes back to the queue after this long
    # (redis transport); tasks are short, so it can be short too.
    "visibility_timeout": _settings.broker_visibility_timeout_seconds,
    # ...as soon as a worker's sweep sees it: kombu sweeps every interval (10 s) but scans
    # Redis only every `throttle`-th sweep (10 by default: up to 100 s more). Every sweep scans.
    "unacked_restore_throttle": 1,
    "confirm_publish": True,  # amqp: a 2xx means the broker has the message
    **_broker.transport_options,  # Sentinel: master_name, sentinel_kwargs
}
broker_pool_limit = 10
result_backend = None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False
worker_send_task_events = False
task_default_queue = EVENTS_QUEUE
task_queues = [
    Queue(name, Exchange(name), routing_key=name)
    for name in (EVENTS_QUEUE, TRANSFERS_QUEUE, MAINTENANCE_QUEUE)
]
task_routes = {
    "chat_transfer.events.*": {"queue": EVENTS_QUEUE, "routing_key": EVENTS_QUEUE},
    "chat_transfer.transfers.*": {"queue": TRANSFERS_QUEUE, "routing_key": TRANSFERS_QUEUE},
    "chat_transfer.maintenance.*": {"queue": MAINTENANCE_QUEUE, "routing_key": MAINTENANCE_QUEUE},
}

beat_schedule = {
    "reconcile": {
        "task": "chat_transfer.maintenance.reconcile",
        "schedule": _settings.reconcile_interval_seconds,
        "options": {"expires": _settings.reconcile_interval_seconds},
    },
}
