"""Webhook delivery: signed, asynchronous, in order, recorded.

One background thread sends webhooks in the order they were produced, as
``application/x-www-form-urlencoded`` POSTs (or GETs, if a Conversations webhook is
configured so), signed with ``X-Twilio-Signature`` exactly as Twilio signs
(`twilio.request_validator.RequestValidator(auth_token).compute_signature(url, params)`)
and carrying ``I-Twilio-Idempotency-Token`` (the same on every redelivery).

By default nothing is retried (TaskRouter logs failed callbacks and moves on); a
Sandbox can be told to retry failed deliveries (connection error, timeout, 429 or 5xx)
a number of times per kind, Conversations redeliveries then carry ``RetryCount``.
Every attempt is recorded with its status code.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode
from urllib.request import getproxies

import requests
from twilio.request_validator import RequestValidator

from .faults import Faults


@dataclass
class Attempt:
    status: int | None
    error: str | None
    retry_count: int
    duplicate: bool
    at: float


@dataclass
class Delivery:
    id: int
    kind: str  # taskrouter | conversations
    url: str
    method: str
    fields: dict[str, str]
    token: str
    event_type: str
    fault: str | None = None  # drop / duplicate / reorder
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        """The last attempt's HTTP status (None: dropped, pending or connection error)."""
        return self.attempts[-1].status if self.attempts else None

    @property
    def delivered(self) -> bool:
        return any(a.status is not None and 200 <= a.status < 300 for a in self.attempts)


@dataclass
class _Item:
    delivery: Delivery
    retry_count: int = 0
    duplicate: bool = False
    reorder: bool = False


class Deliverer:
    def __init__(
        self, auth_token: str, faults: Faults, *, timeout: float = 15.0, retries: dict | None = None
    ):
        self.validator = RequestValidator(auth_token)
        self.faults = faults
        self.timeout = timeout
        self.retries = {"taskrouter": 0, "conversations": 0, **(retries or {})}
        self.deliveries: list[Delivery] = []
        self._queue: deque[_Item] = deque()
        self._held: _Item | None = None
        self._held_since = 0.0
        # how long a webhook picked for reordering waits for a later one to overtake it
        self.reorder_grace = 0.5
        self._busy = False
        self._cond = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        if not getproxies():  # then read once what requests would read from the environment per call
            self._session.trust_env = False
            self._session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        self.paused = False

    # ------------------------------------------------------------ producing
    def enqueue(self, kind: str, url: str, fields: dict[str, str], method: str = "POST") -> Delivery:
        with self._cond:
            d = Delivery(
                id=len(self.deliveries) + 1,
                kind=kind,
                url=url,
                method=(method or "POST").upper(),
                fields=dict(fields),
                token=str(uuid.uuid4()),
                event_type=fields.get("EventType", ""),
            )
            self.deliveries.append(d)
            d.fault = self.faults.webhook(kind, d.event_type)
            if d.fault != "drop":
                self._queue.append(_Item(d, reorder=d.fault == "reorder"))
                if d.fault == "duplicate":
                    self._queue.append(_Item(d, duplicate=True))
            self._cond.notify_all()
            return d

    # ------------------------------------------------------------- running
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def _next(self) -> _Item | None:
        with self._cond:
            while self._running:
                if not self.paused:
                    if self._queue:
                        item = self._queue.popleft()
                        if item.reorder and self._held is None and not item.duplicate:
                            item.reorder = False
                            self._held = item  # let the next one overtake it
                            self._held_since = time.monotonic()
                            continue
                        self._busy = True
                        return item
                    if self._held is not None and time.monotonic() - self._held_since >= self.reorder_grace:
                        item, self._held = self._held, None
                        self._busy = True
                        return item
                self._cond.wait(0.05)
            return None

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                self._send(item)
                with self._cond:
                    if self._held is not None and self._held is not item:
                        held, self._held = self._held, None
                    else:
                        held = None
                if held is not None:
                    self._send(held)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _send(self, item: _Item) -> None:
        d = item.delivery
        while True:
            params = dict(d.fields)
            if d.kind == "conversations":
                params["RetryCount"] = str(item.retry_count)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "User-Agent": "TwilioProxy/1.1",
                "I-Twilio-Idempotency-Token": d.token,
                "X-Home-Region": "us1",
            }
            status, error = None, None
            try:
                if d.method == "GET":
                    sep = "&" if "?" in d.url else "?"
                    full = f"{d.url}{sep}{urlencode(params)}"
                    headers["X-Twilio-Signature"] = self.validator.compute_signature(full, {})
                    resp = self._session.get(full, headers=headers, timeout=self.timeout)
                else:
                    headers["X-Twilio-Signature"] = self.validator.compute_signature(d.url, params)
                    resp = self._session.post(d.url, data=params, headers=headers, timeout=self.timeout)
                status = resp.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._cond:
                d.attempts.append(Attempt(status, error, item.retry_count, item.duplicate, time.time()))
            failed = status is None or status == 429 or status >= 500
            if failed and item.retry_count < self.retries.get(d.kind, 0) and self._running:
                item.retry_count += 1
                time.sleep(min(0.05 * item.retry_count, 0.5))
                continue
            return

    # -------------------------------------------------------------- waiting
    def idle(self) -> bool:
        with self._cond:
            return not self._queue and self._held is None and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._held is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    return False
                self._cond.wait(min(left, 0.1))
            return True
