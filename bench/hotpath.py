"""The receiver's request path in-process, with candidate fixes applied to this process only.

`python -m bench.hotpath` calls the receiver's Flask app as WSGI (no HTTP, no gunicorn) for a few
thousand signed events with real Redis and real Celery publishing, and reports CPU per event for:

- `baseline`: as `chat-transfer web` runs with more than one worker (Prometheus multiprocess mode),
  with the broker on the state Redis: one script marks the event seen and pushes its message;
- `claim-path`: the path taken with RabbitMQ or a broker on another Redis (claim, Celery's
  `send_task`, mark queued);
- `no-mp-metrics`: Prometheus in single-process mode.

Each variant runs in its own process (Prometheus's mode is fixed at import). Nothing here changes
the service's code: the variants patch the running benchmark process only, to size the proposals.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlencode

from bench.common import REPO, say

VARIANTS = ("baseline", "claim-path", "no-mp-metrics")


def _force_claim_path() -> None:
    """The path a receiver takes with RabbitMQ or a broker on another Redis: claim the event's
    key, `send_task`, mark it queued (three round trips and Celery's publisher)."""
    from webhooks import intake

    def for_broker(cls: Any, dedupe: Any, queue: Any, _state_redis_url: str) -> Any:
        return cls(dedupe, queue, one_step=False)

    intake.EventIntake.for_broker = classmethod(for_broker)  # type: ignore[method-assign, assignment]


def measure(variant: str, count: int) -> dict[str, Any]:
    from twilio.request_validator import RequestValidator

    from bench.common import service_env
    from bench.intake import PATH, event_fields
    from ops.embedded_redis import EmbeddedRedis

    with EmbeddedRedis() as server:
        os.environ.update(service_env(server.url))
        if variant != "no-mp-metrics":
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cft-bench-metrics-")
        if variant == "claim-path":
            _force_claim_path()
        from webhooks.app import create_app

        app = create_app()
        validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
        url = f"http://127.0.0.1:5000{PATH}"
        environs = []
        for n in range(count + 300):
            fields = event_fields(0xC0DE, n)
            body = urlencode(fields).encode()
            environs.append(
                {
                    "REQUEST_METHOD": "POST",
                    "PATH_INFO": PATH,
                    "QUERY_STRING": "",
                    "SERVER_NAME": "127.0.0.1",
                    "SERVER_PORT": "5000",
                    "SERVER_PROTOCOL": "HTTP/1.1",
                    "HTTP_HOST": "127.0.0.1:5000",
                    "wsgi.url_scheme": "http",
                    "CONTENT_TYPE": "application/x-www-form-urlencoded",
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_X_TWILIO_SIGNATURE": validator.compute_signature(url, fields),
                    "wsgi.input": io.BytesIO(body),
                    "wsgi.errors": sys.stderr,
                }
            )
        statuses: list[str] = []

        def start_response(status: str, _headers: Any) -> None:
            statuses.append(status)

        for environ in environs[:300]:
            list(app(environ, start_response))
        cpu, wall = time.process_time(), time.perf_counter()
        for environ in environs[300:]:
            list(app(environ, start_response))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        import redis

        queued = redis.Redis.from_url(server.url).llen("events")
    return {
        "variant": variant,
        "events": count,
        "cpu_ms_per_event": cpu / count * 1000,
        "wall_ms_per_event": wall / count * 1000,
        "all_204": all(s.startswith("204") for s in statuses),
        "queued": queued,
    }


def component_costs() -> dict[str, float]:
    """Deterministic sizes (best of five, wall time on an embedded redis-server) of the pieces of
    the two intake paths: building the Celery message, the one-step script, Celery's `send_task`
    (the claim path's publish, with the short `argsrepr`), one plain Redis round trip, and the
    `saferepr` of one event that the short `argsrepr` saves."""
    import timeit

    import redis
    from celery.utils.saferepr import saferepr

    from bench.common import service_env
    from bench.intake import event_fields
    from ops.embedded_redis import EmbeddedRedis
    from worker.adapters.intake_dedupe import IntakeDedupe
    from worker.adapters.task_queue import TASKROUTER_EVENT, CeleryTaskQueue, summary

    payload = {"fields": event_fields(1, 1), "received_at": 1.0}

    def best_ms(call: Any) -> float:
        return min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1000

    with EmbeddedRedis() as server:
        os.environ.update(service_env(server.url))
        from worker.celery_app import app

        queue = CeleryTaskQueue(app)
        client = redis.Redis.from_url(server.url)
        dedupe = IntakeDedupe(client, 3600)
        list_key, message = queue.redis_message(TASKROUTER_EVENT, payload)
        reprs = summary(payload)
        counter = iter(range(10**9))
        return {
            "message_build_ms": best_ms(lambda: queue.redis_message(TASKROUTER_EVENT, payload)),
            "one_step_script_ms": best_ms(lambda: dedupe.queue_once(f"e{next(counter)}", list_key, message)),
            "send_task_ms": best_ms(lambda: app.send_task(TASKROUTER_EVENT, args=[payload], **reprs)),
            "redis_round_trip_ms": best_ms(client.ping),
            "saferepr_of_event_ms": best_ms(lambda: saferepr([payload], 1024)),
        }


def run(quick: bool) -> dict[str, Any]:
    """Each variant in its own process, in interleaved rounds; the lowest CPU per event of each
    variant counts (a shared machine only ever adds time)."""
    if quick:  # too noisy to resolve anything in one short round: only the deterministic sizes
        return {"rounds": 0, "best": [], "samples": [], "components": component_costs()}
    count, rounds = 2500, 3
    samples: list[dict[str, Any]] = []
    for round_no in range(rounds):
        for variant in VARIANTS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.hotpath", "--variant", variant, "--count", str(count)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("{")), None)
            if line is None:
                raise RuntimeError(f"hotpath {variant} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
            sample = {**json.loads(line), "round": round_no + 1}
            samples.append(sample)
            say(f"hotpath r{round_no + 1} {variant:14s} {sample['cpu_ms_per_event']:.2f} ms CPU per event")
    best = [
        min((s for s in samples if s["variant"] == variant), key=lambda s: s["cpu_ms_per_event"])
        for variant in VARIANTS
    ]
    return {"rounds": rounds, "best": best, "samples": samples, "components": component_costs()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath")
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.variant:
        print(json.dumps(measure(ns.variant, ns.count)))
    else:
        print(json.dumps(run(ns.quick), indent=1))


if __name__ == "__main__":
    main()
