"""Webhook delivery: signed, asynchronous, in order, recorded.

One background thread sends webhooks in the order they were produced, as
``application/x-www-form-urlencoded`` POSTs (or GETs, if a Conversations webhook is
configured so), signed with ``X-Twilio-Signature`` exactly as Twilio signs
(`twilio.request_validator.RequestValidator(auth_token).compute_signature(url, params)`)
and carrying ``I-Twilio-Idempotency-Token`` (the same on every redelivery).

TaskRouter's event callback is sent once (the description says its URL supports connection
overrides; the sandbox does not apply them there: README, what is not modelled). A
Conversations webhook is retried as its URL's connection overrides say ("Webhooks (HTTP
callbacks): Connection Overrides"): ``#rc=`` retry count (0-5, default 1), ``rp=`` retry policy
(``4xx``, ``5xx``, ``ct`` connection failure, ``rt`` read timeout, ``all``; default ``ct``),
``ct=`` / ``rt=`` connect / read timeouts in ms (default 5000 / 15000), ``tt=`` total time in ms
(default 15000). So an answer 503 is retried only with ``rp=5xx`` (or ``all``). The fragment is
never sent and is not part of the signed URL; redeliveries carry ``RetryCount``. Every attempt is
recorded with its status code.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag, urlencode

import requests
from twilio.request_validator import RequestValidator

from .faults import Faults
from .sending import SenderThread


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


@dataclass(frozen=True)
class ConnectionOverrides:
    """A webhook URL's connection overrides (its fragment), with Twilio's defaults."""

    retry_count: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_time: float = 15.0

    @classmethod
    def of(cls, fragment: str) -> ConnectionOverrides:
        values = dict(parse_qsl(fragment))

        def ms(key: str, default: float, low: int, high: int) -> float:
            try:
                return min(max(int(values[key]), low), high) / 1000
            except (KeyError, ValueError):
                return default

        try:
            retry_count = min(max(int(values.get("rc", 1)), 0), 5)
        except ValueError:
            retry_count = 1
        policy = frozenset(p.strip() for p in values.get("rp", "ct").split(",") if p.strip())
        return cls(
            retry_count,
            policy or frozenset({"ct"}),
            ms("ct", 5.0, 100, 10000),
            ms("rt", 15.0, 100, 15000),
            ms("tt", 15.0, 100, 15000),
        )

    def retries(self, failure: str) -> bool:
        """Whether a failure of this class (`4xx`, `5xx`, `ct`, `rt`) is retried."""
        return "all" in self.retry_policy or failure in self.retry_policy


NO_RETRIES = ConnectionOverrides(retry_count=0)


@dataclass
class _Item:
    delivery: Delivery
    retry_count: int = 0
    duplicate: bool = False
    reorder: bool = False


class Deliverer(SenderThread):
    thread_name = "sandbox-webhooks"

    def __init__(self, auth_token: str, faults: Faults, *, timeout: float = 15.0):
        super().__init__()
        self.validator = RequestValidator(auth_token)
        self.faults = faults
        self.timeout = timeout  # the longest the sandbox waits for an answer
        self.deliveries: list[Delivery] = []
        self._queue: deque[_Item] = deque()
        self._held: _Item | None = None
        self._held_since = 0.0
        # how long a webhook picked for reordering waits for a later one to overtake it
        self.reorder_grace = 0.5
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
        url, fragment = urldefrag(d.url)
        overrides = ConnectionOverrides.of(fragment) if d.kind == "conversations" else NO_RETRIES
        timeout = (min(overrides.connect_timeout, self.timeout), min(overrides.read_timeout, self.timeout))
        started = time.monotonic()
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
            status, error, failure = None, None, None
            try:
                if d.method == "GET":
                    sep = "&" if "?" in url else "?"
                    full = f"{url}{sep}{urlencode(params)}"
                    headers["X-Twilio-Signature"] = self.validator.compute_signature(full, {})
                    resp = self._session.get(full, headers=headers, timeout=timeout)
                else:
                    headers["X-Twilio-Signature"] = self.validator.compute_signature(url, params)
                    resp = self._session.post(url, data=params, headers=headers, timeout=timeout)
                status = resp.status_code
                failure = "5xx" if status >= 500 else "4xx" if status >= 400 else None
            except requests.ReadTimeout as exc:
                error, failure = f"{type(exc).__name__}: {exc}", "rt"
            except requests.RequestException as exc:
                error, failure = f"{type(exc).__name__}: {exc}", "ct"
            with self._cond:
                d.attempts.append(Attempt(status, error, item.retry_count, item.duplicate, time.time()))
            if (
                failure is not None
                and overrides.retries(failure)
                and item.retry_count < overrides.retry_count
                and time.monotonic() - started < overrides.total_time
                and self._running
            ):
                item.retry_count += 1
                continue
            return

    # -------------------------------------------------------------- waiting
    def _waiting(self) -> bool:
        return bool(self._queue) or self._held is not None

    def pause(self) -> None:
        """Hold every webhook back (they queue up, in order) until `resume`."""
        with self._cond:
            self.paused = True

    def resume(self) -> None:
        with self._cond:
            self.paused = False
            self._cond.notify_all()
