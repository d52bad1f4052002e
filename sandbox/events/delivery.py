"""Event Streams' deliveries to webhook sinks: signed, retried with backoff, at least once.

Each batch is one POST of a JSON array of CloudEvents, signed as Event Streams signs
(https://www.twilio.com/docs/events/webhook-quickstart and its "How to Validate Twilio Event Streams
Webhooks" posts): the body's SHA-256 (hex) is added to the sink URL as `bodySHA256` and
`X-Twilio-Signature` is `RequestValidator(auth_token).compute_signature(url, {})`, over the URL
without any credentials it carries (Twilio drops them before signing,
https://www.twilio.com/docs/usage/webhooks/webhooks-security); credentials in the sink URL are
sent as HTTP basic auth on every request ("Authenticate your webhook sink").

A batch not answered 2xx within 5 s ("the maximum timeout for a webhook Sink response is 5
seconds") is retried with exponential backoff and jitter until `retry_window` has passed (Twilio
retries "for up to four hours", https://www.twilio.com/docs/events/event-delivery-and-duplication);
the sandbox's backoff starts at `backoff[0]` seconds and is capped at `backoff[1]` so that tests
see retries in seconds. Retried batches overtake or follow others: order is not kept.
Faults for kind "event-streams" (`webhook_drop_rate`, `webhook_duplicate_rate`,
`webhook_reorder_rate`): a dropped attempt is lost on the way and retried, a duplicated batch is
sent twice, a reordered one waits `reorder_grace` seconds so later batches overtake it.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

from ..faults import Faults
from ..sending import SenderThread
from .model import Sink

KIND = "event-streams"


@dataclass
class SinkAttempt:
    status: int | None
    error: str | None
    duplicate: bool
    at: float


@dataclass
class SinkDelivery:
    id: int
    sink_sid: str
    destination: str
    events: list[dict[str, Any]]
    body: str
    fault: str | None = None
    attempts: list[SinkAttempt] = field(default_factory=list)
    given_up: bool = False

    @property
    def delivered(self) -> bool:
        return any(a.status is not None and 200 <= a.status < 300 for a in self.attempts)


def signed_request(destination: str, body: str, auth_token: str) -> tuple[str, dict[str, str], Any]:
    """(URL, headers, auth) of a POST of `body` to a sink, as Event Streams sends it."""
    parts = urlsplit(destination)
    auth = (parts.username or "", parts.password or "") if parts.username else None
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    validator = RequestValidator(auth_token)
    url = f"{clean}{'&' if parts.query else '?'}bodySHA256={validator.compute_hash(body)}"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": validator.compute_signature(url, {}),
    }
    return url, headers, auth


class SinkDeliverer(SenderThread):
    thread_name = "sandbox-event-streams"
    join_timeout = 10.0

    def __init__(
        self,
        auth_token: str,
        faults: Faults,
        *,
        timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 8.0),
        retry_window: float = 4 * 3600.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.auth_token = auth_token
        self.faults = faults
        self.timeout = timeout
        self.backoff = backoff
        self.retry_window = retry_window
        self.reorder_grace = 0.5
        self.deliveries: list[SinkDelivery] = []
        self._rng = random.Random(f"{seed}-sink-backoff")
        self._heap: list[tuple[float, int, SinkDelivery, int, bool]] = []  # due, seq, delivery, try, dup
        self._seq = itertools.count()

    # ---- producing ---------------------------------------------------------------------------
    def enqueue(self, sink: Sink, events: list[dict[str, Any]]) -> SinkDelivery:
        body = json.dumps(events, separators=(",", ":"))
        with self._cond:
            delivery = SinkDelivery(len(self.deliveries) + 1, sink.sid, sink.destination, list(events), body)
            self.deliveries.append(delivery)
            delivery.fault = self.faults.webhook(KIND, events[0].get("type", "") if events else "")
            now = time.monotonic()
            due = now + (self.reorder_grace if delivery.fault == "reorder" else 0.0)
            self._push(due, delivery, 0, False)
            if delivery.fault == "duplicate":
                self._push(due, delivery, 0, True)
            self._cond.notify_all()
            return delivery

    def _push(self, due: float, delivery: SinkDelivery, tries: int, duplicate: bool) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), delivery, tries, duplicate))

    def forget(self, sink_sid: str) -> None:
        """A deleted sink: its batches waiting for a retry are not sent again."""
        with self._cond:
            kept = [item for item in self._heap if item[2].sink_sid != sink_sid]
            for item in self._heap:
                if item[2].sink_sid == sink_sid:
                    item[2].given_up = True
            self._heap = kept
            heapq.heapify(self._heap)
            self._cond.notify_all()

    # ---- running -----------------------------------------------------------------------------
    def _next(self) -> tuple[SinkDelivery, int, bool] | None:
        with self._cond:
            while self._running:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    _due, _seq, delivery, tries, duplicate = heapq.heappop(self._heap)
                    self._busy = True
                    return delivery, tries, duplicate
                wait = self._heap[0][0] - time.monotonic() if self._heap else 0.1
                self._cond.wait(max(0.001, min(wait, 0.1)))
            return None

    def _run(self) -> None:
        started: dict[int, float] = {}
        while True:
            item = self._next()
            if item is None:
                return
            delivery, tries, duplicate = item
            try:
                first = started.setdefault(delivery.id, time.monotonic())
                ok = self._send(delivery, duplicate, dropped=delivery.fault == "drop" and tries == 0)
                with self._cond:
                    if ok or duplicate or delivery.given_up:
                        continue
                    if time.monotonic() - first >= self.retry_window:
                        delivery.given_up = True
                        continue
                    base = min(self.backoff[1], self.backoff[0] * 2**tries)
                    delay = self._rng.uniform(base / 2, base)
                    self._push(time.monotonic() + delay, delivery, tries + 1, False)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _send(self, delivery: SinkDelivery, duplicate: bool, *, dropped: bool) -> bool:
        status, error = None, None
        if dropped:
            error = "dropped on the way (fault)"
        else:
            url, headers, auth = signed_request(delivery.destination, delivery.body, self.auth_token)
            try:
                response = self._session.post(
                    url, data=delivery.body.encode(), headers=headers, auth=auth, timeout=self.timeout
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
        with self._cond:
            delivery.attempts.append(SinkAttempt(status, error, duplicate, time.time()))
        return status is not None and 200 <= status < 300

    # ---- waiting -----------------------------------------------------------------------------
    def _waiting(self) -> bool:
        return bool(self._heap)
