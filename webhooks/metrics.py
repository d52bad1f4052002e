"""Prometheus metrics of the receiver (multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set)."""

from __future__ import annotations

import json
import os

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

REQUESTS = Counter(
    "chat_transfer_http_requests", "HTTP requests by endpoint and status", ["endpoint", "status"]
)
REJECTIONS = Counter("chat_transfer_rejections", "Requests refused, by reason", ["endpoint", "reason"])
DUPLICATES = Counter("chat_transfer_duplicate_events", "Redeliveries answered without queueing", ["endpoint"])
ENQUEUE_SECONDS = Histogram(
    "chat_transfer_enqueue_seconds",
    "Time to put an event on the broker",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


class ReconcileCollector:
    """The workers' reconciliation figures, which they keep in Redis, exposed at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self):  # type: ignore[no-untyped-def]
        try:
            totals = self._redis.hgetall("cft:reconcile:totals")
            last = self._redis.get("cft:reconcile:last")
        except redis.RedisError:
            return
        names = {
            "runs": "reconciliation runs",
            "tasks_repaired": "tracked tasks closed by reconciliation (their event never came)",
            "chats_ended": "chats ended by reconciliation",
            "holds_expired": "transfers being set up that never produced a task",
            "outboxes_redriven": "chats whose pending notices or end were re-driven",
            "twilio_calls": "Twilio calls made by reconciliation",
        }
        for name, help_text in names.items():
            family = CounterMetricFamily(f"chat_transfer_reconcile_{name}", help_text)
            family.add_metric([], float(totals.get(name.encode(), totals.get(name, 0)) or 0))
            yield family
        if last:
            report = json.loads(last)
            yield GaugeMetricFamily(
                "chat_transfer_reconcile_last_run_seconds",
                "duration of the last run",
                value=report["seconds"],
            )
            yield GaugeMetricFamily(
                "chat_transfer_reconcile_last_run_twilio_calls",
                "Twilio calls of the last run",
                value=report["twilio_calls"],
            )


def render(client: redis.Redis | None = None) -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    if client is not None:
        extra = CollectorRegistry()
        extra.register(ReconcileCollector(client))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
