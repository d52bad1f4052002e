"""Structured logs: one JSON object per line, with the sids involved and never a secret.

Every handled event and every Twilio call logs one line carrying the conversation, task and
transfer sids it concerns (as `extra=` fields). Values that look like credentials — auth tokens,
Flex tokens (JWTs), basic-auth headers — are masked before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|auth)", re.IGNORECASE)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/=]+")


_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("chat_transfer_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries these fields (the sids being worked on), Twilio calls too."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key) and not key.endswith(("_sid", "Sid")):
        return "***"
    if isinstance(value, str):
        return _BASIC.sub(r"\1***", _JWT.sub("***", value))
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in (_CONTEXT.get() or {}).items():
            entry[key] = redact(value, key)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("twilio.http_client", "twilio.quiet", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
