"""Shared state of one sandbox: the lock, the clock, SID generation, the account."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

from .clock import Clock
from .errors import bad_request


class Core:
    def __init__(self, account_sid: str, auth_token: str, seed: int | None, clock: Clock) -> None:
        # One re-entrant lock guards all state; the Condition wakes `wait_for` waiters.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._sid_rng = random.Random(seed)
        self._seq = 0
        # set by the Sandbox: deliver(kind, url, params, method, token=None) queues a webhook
        self.deliver: Callable[..., None] = lambda *a, **k: None

    def sid(self, prefix: str) -> str:
        return prefix + f"{self._sid_rng.getrandbits(128):032x}"

    def now(self) -> float:
        return self.clock.time()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()


def parse_json_param(value: str | None, name: str, default: Any = None) -> Any:
    """A JSON-string parameter (Attributes, Configuration, Routing...), 400 when malformed."""
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError as exc:
        raise bad_request(f"{name} is not valid JSON: {exc}") from None


def parse_attributes(value: str | None, name: str = "Attributes") -> str:
    """Attributes must be a JSON object; stored as the string given (Twilio echoes it)."""
    if value is None:
        return "{}"
    parsed = parse_json_param(value, name)
    if not isinstance(parsed, dict):
        raise bad_request(f"{name} must be a JSON object")
    return value
