"""What the sandbox saw: every request with its answer, what Twilio would have rejected
(violations), real operations it does not model, and its own errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    seq: int
    at: float
    method: str
    product: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    template: str | None = None
    operation_id: str | None = None
    status: int | None = None
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Violation:
    method: str
    product: str
    path: str
    kind: str
    message: str
    parameter: str | None = None
    template: str | None = None


@dataclass
class Journal:
    requests: list[RequestRecord] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    unmodelled: list[Violation] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
