"""`GET /metrics` under `chat-transfer web` (issue 12, defect 8): the receiver's request counters,
counted in every gunicorn worker process, read back over HTTP from whichever worker answers."""

from __future__ import annotations

import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ops.embedded_redis import EmbeddedRedis
from tests.e2e.test_intake_e2e import post_signed, service_env, task_created
from tests.support.processes import start_web, wait_for
from tests.support.settings import sid

pytestmark = pytest.mark.e2e
EVENTS = 12


def counters(base: str) -> dict[tuple[str, str], float]:
    """`chat_transfer_http_requests_total` by (endpoint, status), as Prometheus would scrape it."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "chat_transfer_http_requests_total":
                key = (sample.labels["endpoint"], sample.labels["status"])
                found[key] = found.get(key, 0.0) + sample.value
    return found


def test_request_counters_of_every_worker_show_in_metrics():
    with EmbeddedRedis() as server:
        web, base = start_web(service_env(server.url), workers=2)
        try:
            for n in range(EVENTS):
                event = task_created(n, sid("CH", n))
                assert post_signed(base, "/webhooks/taskrouter", event).status_code == 204
            assert requests.post(f"{base}/webhooks/taskrouter", data={}, timeout=10).status_code == 403
            # Whichever worker answers the scrape, it reports what both counted.
            for _ in range(4):
                seen = counters(base)
                assert seen.get(("taskrouter", "204")) == EVENTS, seen
                assert seen.get(("taskrouter", "403")) == 1, seen
            pids = {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", web.log())}
            assert len(pids) == 2, web.log()[-2000:]
        finally:
            web.stop()
    wait_for(lambda: not web.alive(), what="receiver stopped")
