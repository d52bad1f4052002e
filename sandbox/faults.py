"""Fault injection: 429 / 500 answers, latency, dropped / duplicated / reordered webhooks, and
Event Streams' events shuffled and sent again.

Every decision comes from a seeded random generator (one stream for HTTP answers,
one for webhooks), so the same sequence of requests and events meets the same faults.
Scripted faults (`fail_next`) come first and are exact.  Every injected fault is
counted in `counts` and logged in `log`.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, fields


@dataclass
class FaultConfig:
    rate_429: float = 0.0  # answer 429 Too Many Requests (with Retry-After), nothing applied
    rate_500: float = 0.0  # answer 500, nothing applied
    rate_500_after_commit: float = 0.0  # apply the change, then answer 500 (an ambiguous failure)
    path: str | None = None  # regex on "/{product}/{path}"; None: every request
    methods: tuple[str, ...] | None = None  # e.g. ("POST",); None: every method
    retry_after: int = 1  # seconds, the Retry-After header of a 429
    latency: float = 0.0  # seconds added to every matching answer
    latency_jitter: float = 0.0  # plus uniform(0, jitter)
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_reorder_rate: float = 0.0  # the webhook is held back and sent after the next one
    webhook_kinds: tuple[str, ...] | None = None  # "taskrouter", "conversations", "event-streams"; None: all
    stream_shuffle: bool = False  # Event Streams sends each flush's events in a random order
    stream_duplicate_rate: float = 0.0  # an event streamed once more, in a later batch


@dataclass
class Scripted:
    status: int
    path: re.Pattern | None
    method: str | None
    remaining: int
    after_commit: bool


@dataclass
class HttpFault:
    status: int | None = None  # 429 / 500 / ... to answer instead of (or after) the handler
    after_commit: bool = False
    latency: float = 0.0
    retry_after: int = 1


@dataclass
class Faults:
    seed: int = 0
    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.log: list[dict] = []
        self._scripted: list[Scripted] = []
        self._reseed()

    def _reseed(self) -> None:
        self._http_rng = random.Random(f"{self.seed}-http")
        self._hook_rng = random.Random(f"{self.seed}-webhooks")
        self._stream_rng = random.Random(f"{self.seed}-streams")

    def configure(self, *, seed: int | None = None, **options) -> FaultConfig:
        """Set fault options (see FaultConfig); unnamed options keep their values."""
        with self._lock:
            names = {f.name for f in fields(FaultConfig)}
            unknown = set(options) - names
            if unknown:
                raise TypeError(f"unknown fault options {sorted(unknown)}")
            for key, value in options.items():
                if key == "methods" and value is not None:
                    value = tuple(m.upper() for m in value)
                setattr(self.config, key, value)
            if seed is not None:
                self.seed = seed
                self._reseed()
            return self.config

    def reset(self) -> None:
        """No faults, counters cleared, generators reseeded."""
        with self._lock:
            self.config = FaultConfig()
            self.counts.clear()
            self.log.clear()
            self._scripted.clear()
            self._reseed()

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        path: str | None = None,
        method: str | None = None,
        after_commit: bool = False,
    ) -> None:
        """Answer the next `count` matching requests with `status` (exact, no randomness)."""
        with self._lock:
            self._scripted.append(
                Scripted(
                    status,
                    re.compile(path) if path else None,
                    method.upper() if method else None,
                    count,
                    after_commit,
                )
            )

    def _record(self, kind: str, **info) -> None:
        self.counts[kind] += 1
        self.log.append({"kind": kind, **info})

    def http(self, method: str, full_path: str) -> HttpFault:
        with self._lock:
            for s in self._scripted:
                if (
                    s.remaining > 0
                    and (s.path is None or s.path.search(full_path))
                    and (s.method is None or s.method == method)
                ):
                    s.remaining -= 1
                    kind = f"http_{s.status}" + ("_after_commit" if s.after_commit else "")
                    self._record(kind, method=method, path=full_path, scripted=True)
                    return HttpFault(s.status, s.after_commit, 0.0, self.config.retry_after)
            cfg = self.config
            if cfg.path and not re.search(cfg.path, full_path):
                return HttpFault()
            if cfg.methods and method not in cfg.methods:
                return HttpFault()
            out = HttpFault(retry_after=cfg.retry_after)
            if cfg.latency or cfg.latency_jitter:
                out.latency = cfg.latency + self._http_rng.uniform(0, cfg.latency_jitter)
                self._record("latency", method=method, path=full_path, seconds=out.latency)
            roll = self._http_rng.random()
            if roll < cfg.rate_429:
                out.status = 429
            elif roll < cfg.rate_429 + cfg.rate_500:
                out.status = 500
            elif roll < cfg.rate_429 + cfg.rate_500 + cfg.rate_500_after_commit:
                out.status, out.after_commit = 500, True
            if out.status:
                kind = f"http_{out.status}" + ("_after_commit" if out.after_commit else "")
                self._record(kind, method=method, path=full_path)
            return out

    def stream(self, events: list[dict]) -> tuple[list[dict], list[dict]]:
        """Event Streams' events to send now (shuffled when configured) and those to send again in
        a later flush (each with probability `stream_duplicate_rate`)."""
        with self._lock:
            cfg = self.config
            events = list(events)
            if cfg.stream_shuffle and len(events) > 1:
                self._stream_rng.shuffle(events)
                self._record("stream_shuffled", events=len(events))
            rate = cfg.stream_duplicate_rate
            again = [e for e in events if rate and self._stream_rng.random() < rate]
            for event in again:
                self._record("stream_duplicated", event_type=event.get("type"), id=event.get("id"))
            return events, again

    def webhook(self, kind: str, event_type: str) -> str | None:
        """None, "drop", "duplicate" or "reorder" for a new webhook."""
        with self._lock:
            cfg = self.config
            if cfg.webhook_kinds and kind not in cfg.webhook_kinds:
                return None
            if not (cfg.webhook_drop_rate or cfg.webhook_duplicate_rate or cfg.webhook_reorder_rate):
                return None
            roll = self._hook_rng.random()
            decision = None
            if roll < cfg.webhook_drop_rate:
                decision = "drop"
            elif roll < cfg.webhook_drop_rate + cfg.webhook_duplicate_rate:
                decision = "duplicate"
            elif roll < cfg.webhook_drop_rate + cfg.webhook_duplicate_rate + cfg.webhook_reorder_rate:
                decision = "reorder"
            if decision:
                names = {
                    "drop": "webhook_dropped",
                    "duplicate": "webhook_duplicated",
                    "reorder": "webhook_reordered",
                }
                self._record(names[decision], webhook=kind, event_type=event_type)
            return decision
