"""When to try again: backoff, Twilio's Retry-After and the broker's visibility timeout (pure).

On Redis, Celery delivers a message with a countdown at once and the worker holds it,
unacknowledged, until it is due; a message held longer than the transport's visibility timeout
is restored and delivered again, and the job then runs twice. So a countdown may take only
`BROKER_SHARE` of the visibility timeout (the rest is for the run itself); a longer wait — only
Twilio's Retry-After can ask for one, the backoff is simply cut short — is not given to the
broker at all: the job is parked in Redis and beat's reconciliation re-drives it when it is due.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

BACKOFF_CAP_SECONDS = 300.0
BROKER_SHARE = 0.75
_MAX_DOUBLINGS = 60  # 2**60 times any first delay is far past any cap


@dataclass(frozen=True)
class RetryPlan:
    countdown: float | None = None  # seconds, a Celery retry through the broker
    park_for: float | None = None  # seconds, parked for beat: longer than the broker may hold it


def backoff_seconds(
    retries: int, first: float, cap: float = BACKOFF_CAP_SECONDS, rng: random.Random | None = None
) -> float:
    """Exponential from `first`, with jitter (±50 %), never above `cap`."""
    base = min(cap, first * (2 ** min(retries, _MAX_DOUBLINGS)))
    return (rng or random).uniform(base / 2, min(cap, base * 1.5))


def countdown_limit(visibility_timeout: float) -> float:
    """The longest countdown the broker may hold a message for without running it twice."""
    return visibility_timeout * BROKER_SHARE


def plan_retry(
    retries: int,
    retry_after: float | None,
    *,
    first: float,
    visibility_timeout: float,
    rng: random.Random | None = None,
) -> RetryPlan:
    """The backoff, cut to what the broker can hold, and never sooner than Retry-After."""
    limit = countdown_limit(visibility_timeout)
    asked = retry_after or 0.0
    if asked > limit:
        return RetryPlan(park_for=asked)
    return RetryPlan(countdown=max(asked, min(limit, backoff_seconds(retries, first, rng=rng))))
