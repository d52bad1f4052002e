"""The shared state of one sandbox: the lock, the clock, SID generation, the account, the
webhook outlet, the products and the bus their domain events travel on.

Every product module (TaskRouter, Conversations, Flex...) depends on this one and this one on
none of them: a product registers itself (`register`), REST handlers find it by its class
(`product`), and products tell each other what happened by publishing messages (`publish`)
that others subscribe to by class (`subscribe`) instead of calling each other. Delivery is
synchronous, under the sandbox lock, in the order of subscription. Timers are a message too:
`Tick`, published by the sandbox's background timer and by ``Sandbox.advance``.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .clock import Clock
from .errors import bad_request

M = TypeVar("M")
P = TypeVar("P")


@dataclass(frozen=True)
class Tick:
    """The sandbox's timer: products subscribe to fire what is due by `now` (timeouts, TTLs...)."""

    now: float


class Core:
    def __init__(self, account_sid: str, auth_token: str, seed: int | None, clock: Clock) -> None:
        # One re-entrant lock guards all state; the Condition wakes `wait_for` waiters.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys: dict[str, str] = {}  # SK... -> secret, accepted besides the auth token
        self._sid_rng = random.Random(seed)
        self._seq = 0
        # set by the Sandbox: deliver(kind, url, params, method) queues a webhook
        self.deliver: Callable[..., None] = lambda *a, **k: None
        self._products: dict[type, object] = {}
        self._subscribers: list[tuple[type, Callable[[Any], None]]] = []

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

    # ------------------------------------------------------------- products
    def register(self, product: object) -> None:
        """Make `product` findable by its class (one instance per class)."""
        self._products[type(product)] = product

    def product(self, cls: type[P]) -> P:
        found = self._products.get(cls)
        if found is None:
            raise LookupError(f"no {cls.__name__} in this sandbox")
        return found  # type: ignore[return-value]

    # ------------------------------------------------------------------ bus
    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None:
        """Call `handler(message)` for every published message that is a `message_type`."""
        self._subscribers.append((message_type, handler))

    def publish(self, message: object) -> None:
        for message_type, handler in list(self._subscribers):
            if isinstance(message, message_type):
                handler(message)


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
