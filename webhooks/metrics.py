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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from worker.adapters import worker_metrics as wm
from worker.adapters.dead_letters import DEAD_LETTERS_KEY
from worker.adapters.deferred import DEFERRED_KEY

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


class WorkerCollector:
    """What the workers do — steps Twilio failed (by status code), retries, dead letters, outbox
    depth, time from a chat's last task to its close — read at scrape time from the counters the
    workers keep in Redis (`worker.adapters.worker_metrics`)."""

    LABELLED = (
        (
            wm.STEP_FAILURES_KEY,
            "worker_step_failures",
            "steps Twilio failed, by step and status",
            ("step", "status"),
        ),
        (wm.RETRIES_KEY, "worker_retries", "Celery retries of transient failures, by task", ("task",)),
        (
            wm.PARKED_KEY,
            "worker_retries_parked",
            "retries too long for the broker, parked for beat",
            ("task",),
        ),
        (wm.DEAD_LETTERS_KEY, "worker_dead_letters", "work given up and kept as a dead letter", ("kind",)),
        (
            wm.UNEXPECTED_KEY,
            "worker_unexpected_errors",
            "unexpected exceptions, by where",
            ("where", "error"),
        ),
        (
            wm.END_STEPS_SKIPPED_KEY,
            "end_steps_skipped",
            "end steps skipped to complete a decided end",
            ("step",),
        ),
    )

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self):  # type: ignore[no-untyped-def]
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key, *_ in self.LABELLED:
                pipe.hgetall(key)
            pipe.hgetall(wm.COUNTERS_KEY)
            pipe.hvals(wm.OUTBOX_DEPTH_KEY)
            pipe.llen(DEAD_LETTERS_KEY)
            pipe.zcard(DEFERRED_KEY)
            pipe.hgetall(wm.CLOSE_SECONDS_KEY)
            *labelled, counters, depths, dead, parked, close = pipe.execute()
        except redis.RedisError:
            return
        for (_, name, help_text, labels), values in zip(self.LABELLED, labelled, strict=True):
            family = CounterMetricFamily(f"chat_transfer_{name}", help_text, labels=list(labels))
            for field, count in sorted(_decoded(values).items()):
                family.add_metric(field.split("|", len(labels) - 1), float(count))
            yield family
        for name, count in sorted(_decoded(counters).items()):
            yield CounterMetricFamily(f"chat_transfer_{name}", name.replace("_", " "), value=float(count))
        yield GaugeMetricFamily(
            "chat_transfer_outbox_items", "outbox items queued", value=sum(int(v) for v in depths)
        )
        yield GaugeMetricFamily(
            "chat_transfer_outbox_chats", "chats with outbox items queued", value=len(depths)
        )
        yield GaugeMetricFamily("chat_transfer_dead_letters", "dead letters waiting", value=dead)
        yield GaugeMetricFamily("chat_transfer_parked_retries", "retries parked for beat", value=parked)
        histogram = _decoded(close)
        cumulative, buckets = 0.0, []
        for bound in (*map(str, wm.CLOSE_BUCKETS), "+Inf"):
            cumulative += float(histogram.get(bound, 0))
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "chat_transfer_chat_close_seconds",
            "from a chat's last task ending to the chat closed",
            buckets=buckets,
            sum_value=float(histogram.get("sum", 0)),
        )


def _decoded(values: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in values.items()
    }


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
        extra.register(WorkerCollector(client))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
