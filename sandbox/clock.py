"""The sandbox clock: real time plus an offset the tests can advance.

Every timestamp the sandbox writes (dates, task ages, reservation and TTL
deadlines, conversation timers) comes from one `Clock`, so a test can jump
ahead with `Sandbox.advance(seconds)` instead of sleeping.  A frozen clock
(`Clock(frozen=True)`) only moves when advanced, which makes ages and
timestamps fully deterministic.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, *, frozen: bool = False, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._base = time.time() if start is None else float(start)
        self._offset = 0.0
        self._real_start = time.monotonic()

    def time(self) -> float:
        """Seconds since the epoch, as the sandbox sees it."""
        with self._lock:
            if self._frozen:
                return self._base + self._offset
            return self._base + (time.monotonic() - self._real_start) + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC with a Z, as Twilio's v1 APIs write dates (e.g. 2014-05-14T14:26:54Z)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso_duration(text: str) -> float:
    """Parse an ISO 8601 duration such as PT5M or P1DT2H (the Conversations timer format)."""
    import re

    m = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
        text.strip(),
    )
    if not m or text.strip() in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
