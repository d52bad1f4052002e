"""Names of workers and queues, read from TaskRouter once an hour at most (cached in Redis): what
notices say, and how an agent is known in a conversation (their `contact_uri`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from worker.domain.notices import display_name
from worker.handlers.deps import Deps

NAME_CACHE_SECONDS = 3600


def cached_card(deps: Deps, sid: str, resolve: Callable[[], dict[str, str]]) -> dict[str, str]:
    key = f"cft:name:{sid}"
    cached = deps.redis.get(key)
    if cached:
        return json.loads(cached)
    value = resolve()
    deps.redis.set(key, json.dumps(value), ex=NAME_CACHE_SECONDS)
    return value


def worker_card(deps: Deps, worker_sid: str) -> dict[str, str]:
    """`{"name": the display name, "contact_uri": …}` of a worker."""

    def resolve() -> dict[str, str]:
        worker = deps.gateway.fetch_worker(worker_sid)
        return {
            "name": display_name(worker.attributes, deps.settings.default_agent_name),
            "contact_uri": str(worker.attributes.get("contact_uri") or ""),
        }

    return cached_card(deps, worker_sid, resolve)
