"""Shared helpers: percentiles, the process environment, progress output."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
WORKSPACE_SID = "WS" + "b" * 32
WORKFLOW_SID = "WW" + "c" * 32


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (any order); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    """Settings for a receiver that only takes events (no Twilio calls are made on intake)."""
    from ops.localstack import intake_env

    return intake_env(redis_url, ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, WORKFLOW_SID, **extra)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rounded(value: float | None, digits: int = 1) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


class CpuWatch:
    """How busy the machine was during a section, and how much of that was not this benchmark.

    Ours = this process and every child it waited for (os.times), so call `stop()` after the
    section's processes are stopped. The rest of the machine's busy time is *foreign* load (other
    work on a shared machine), reported so a reader can tell a slow result from a busy machine.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.cores = psutil.cpu_count() or 1
        self.wall0 = time.perf_counter()
        self.sys0 = self._busy()
        self.ours0 = self._ours()
        self.load0 = os.getloadavg()[0]

    def _busy(self) -> float:
        t = self._psutil.cpu_times()
        return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        busy = self._busy() - self.sys0
        ours = self._ours() - self.ours0
        capacity = wall * self.cores
        return {
            "seconds": round(wall, 1),
            "machine_busy": round(busy / capacity, 3),
            "ours": round(min(ours, busy) / capacity, 3),
            "foreign": round(max(0.0, busy - ours) / capacity, 3),
            "loadavg_start": round(self.load0, 2),
            "loadavg_end": round(os.getloadavg()[0], 2),
        }
