"""Prometheus metrics of the receiver (multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
