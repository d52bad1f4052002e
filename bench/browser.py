"""Webhook intake while browsers flood `POST /transfers` and Twilio's token check is slow
(issue 12, defect 9): does TaskRouter still get its 204 within the 15 s it allows?

The receiver runs under `chat-transfer web` (two gunicorn workers) against the sandbox, whose
IAM `Tokens/validate` answers after `IAM_LATENCY` seconds. FLOODERS client threads post
`/transfers` back to back, each with a new token (so no cached answer helps); meanwhile signed
`task.created` events arrive open-loop at PROBE_RATE a second. Two configurations:

- **unguarded**: what the receiver did before the guard: the token check on the REST timeout
  (10 s), refusals not remembered, no bound on the workers busy with browser requests, no rate
  limit;
- **bounded, no rate limit**: the defaults but the rate limit, to see the bound on busy workers
  alone (the flood comes from one address, which the rate limit would otherwise cut off);
- **guarded**: the defaults (`BROWSER_CONCURRENCY` half the workers, `FLEX_TOKEN_TIMEOUT_SECONDS`
  3, refusals remembered a minute, `BROWSER_RATE_LIMIT` 600 a minute per address).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common import percentile, rounded, say
from bench.markdown import md_table
from ops.embedded_redis import EmbeddedRedis
from ops.localstack import start_web
from tests.support.signing import twilio_signature

IAM_LATENCY = 2.0
FLOODERS = 8
PROBE_RATE = 20.0
TASKROUTER_LIMIT = 15.0  # seconds TaskRouter waits for an event callback's answer
CONFIGURATIONS = {
    "unguarded": {
        "BROWSER_CONCURRENCY": "2",
        "BROWSER_RATE_LIMIT": "1000000/minute",
        "FLEX_TOKEN_TIMEOUT_SECONDS": "10",
        "FLEX_TOKEN_INVALID_CACHE_SECONDS": "0",
    },
    "bounded, no rate limit": {"BROWSER_RATE_LIMIT": "1000000/minute"},
    "guarded": {},
}


@dataclass
class FloodRun:
    configuration: str
    settings: dict[str, str]
    seconds: float
    webhooks_sent: int = 0
    webhook_answers: dict[str, int] = field(default_factory=dict)
    webhook_p50_ms: float | None = None
    webhook_p99_ms: float | None = None
    webhook_max_ms: float | None = None
    webhooks_over_15s: int = 0  # TaskRouter would have given up on these
    browser_answers: dict[str, int] = field(default_factory=dict)
    iam_calls: int = 0


@dataclass
class BrowserResult:
    iam_latency_s: float
    flooders: int
    probe_rate: float
    web_workers: int
    runs: list[FloodRun] = field(default_factory=list)


def _event(n: int) -> dict[str, str]:
    from bench.common import ACCOUNT_SID, WORKSPACE_SID

    task = f"WT{uuid.uuid4().hex}"
    return {
        "EventType": "task.created",
        "Sid": f"EV{uuid.uuid4().hex}",
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "ResourceType": "task",
        "ResourceSid": task,
        "TaskSid": task,
        "TaskAttributes": f'{{"conversationSid": "CH{n:032x}"}}',
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "chat",
        "Timestamp": str(int(time.time())),
    }


def _flood(base: str, stop: threading.Event, answers: Counter[str]) -> None:
    session = requests.Session()
    body = {"taskSid": f"WT{'1' * 32}", "targetSid": f"WQ{'2' * 32}", "mode": "WARM"}
    while not stop.is_set():
        try:
            response = session.post(f"{base}/transfers", json={**body, "Token": uuid.uuid4().hex}, timeout=30)
            answers[str(response.status_code)] += 1
        except requests.RequestException:
            answers["timeout"] += 1


def _probe(base: str, auth_token: str, seconds: float) -> tuple[list[float], Counter[str]]:
    """Signed task.created events open-loop at PROBE_RATE/s; latency from when each was due."""
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    url = f"{base}/webhooks/taskrouter"
    count = int(seconds * PROBE_RATE)
    start = time.perf_counter() + 0.5

    def send(n: int) -> None:
        due = start + n / PROBE_RATE
        time.sleep(max(0.0, due - time.perf_counter()))
        fields = _event(n)
        headers = {"X-Twilio-Signature": twilio_signature(url, fields, auth_token)}
        try:
            response = requests.post(url, data=fields, headers=headers, timeout=TASKROUTER_LIMIT + 15)
            answers[str(response.status_code)] += 1
        except requests.RequestException:
            answers["timeout"] += 1
        latencies.append(time.perf_counter() - due)

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(send, range(count)))
    return latencies, answers


def _one(configuration: str, settings: dict[str, str], seconds: float) -> FloodRun:
    from bench.common import service_env
    from sandbox import Sandbox

    with EmbeddedRedis() as server, Sandbox(seed=3) as sb:
        sb.faults.configure(path=r"^/iam/", latency=IAM_LATENCY)
        env = service_env(server.url, TWILIO_API_BASE_URL=sb.base_url, **settings)
        env.update(TWILIO_ACCOUNT_SID=sb.account_sid, TWILIO_AUTH_TOKEN=sb.auth_token)
        web, base = start_web(env, workers=2)
        run = FloodRun(configuration, settings, seconds)
        stop = threading.Event()
        browser: Counter[str] = Counter()
        flooders = [threading.Thread(target=_flood, args=(base, stop, browser)) for _ in range(FLOODERS)]
        try:
            for thread in flooders:
                thread.start()
            time.sleep(IAM_LATENCY)  # the flood has taken the workers it can
            latencies, answers = _probe(base, sb.auth_token, seconds)
        finally:
            stop.set()
            for thread in flooders:
                thread.join(timeout=60)
            web.stop()
        run.webhooks_sent = len(latencies)
        run.webhook_answers = dict(sorted(answers.items()))
        run.webhook_p50_ms = rounded(percentile(latencies, 50) * 1000)
        run.webhook_p99_ms = rounded(percentile(latencies, 99) * 1000)
        run.webhook_max_ms = rounded(max(latencies) * 1000)
        run.webhooks_over_15s = sum(1 for value in latencies if value > TASKROUTER_LIMIT)
        run.browser_answers = dict(sorted(browser.items()))
        run.iam_calls = len(sb.requests_to(product="iam"))
    say(
        f"browser flood, {configuration}: webhook p50 {run.webhook_p50_ms} ms p99 {run.webhook_p99_ms} ms "
        f"max {run.webhook_max_ms} ms, answers {run.webhook_answers}, over 15 s {run.webhooks_over_15s}; "
        f"browser answers {run.browser_answers}, IAM calls {run.iam_calls}"
    )
    return run


def run(quick: bool) -> BrowserResult:
    seconds = 10.0 if quick else 30.0
    result = BrowserResult(IAM_LATENCY, FLOODERS, PROBE_RATE, web_workers=2)
    for name, settings in CONFIGURATIONS.items():
        result.runs.append(_one(name, settings, seconds))
    return result


def table_lines(details: dict[str, Any]) -> list[str]:
    """The printed table's lines: webhook intake under each configuration's flood."""
    return [
        f"Browser flood, {r['configuration']}: webhook p99 {r['webhook_p99_ms']} ms, "
        f"{r['webhooks_over_15s']}/{r['webhooks_sent']} past TaskRouter's 15 s"
        for r in (details.get("browser") or {}).get("runs", [])
    ]


def section(details: dict[str, Any]) -> list[str]:
    """docs/benchmarks.md's part."""
    browser = details.get("browser")
    if not browser:
        return []
    ran = details.get("ran", {}).get("browser", {})
    rows = [
        [
            r["configuration"],
            r["webhooks_sent"],
            r["webhook_p50_ms"],
            r["webhook_p99_ms"],
            r["webhook_max_ms"],
            r["webhooks_over_15s"],
            ", ".join(f"{k} {v}" for k, v in r["webhook_answers"].items()),
            ", ".join(f"{k} {v}" for k, v in r["browser_answers"].items()),
            r["iam_calls"],
        ]
        for r in browser["runs"]
    ]
    return [
        "",
        "## Webhook intake under a browser flood",
        "",
        f"`python -m bench --only browser`: the receiver (`chat-transfer web`, {browser['web_workers']} "
        f"workers) while {browser['flooders']} clients post `/transfers` back to back, each with a new "
        f"Flex token, and the sandbox's IAM answers the token check after {browser['iam_latency_s']:g} s; "
        f"meanwhile signed `task.created` events arrive at {browser['probe_rate']:g}/s (open loop, "
        "latency from when each was due). *Unguarded* is the receiver before the guard (no bound on "
        "workers busy with browser requests, no rate limit, the token check on the 10 s REST timeout, "
        "refusals not remembered); *bounded* is the defaults without the rate limit (the bound on "
        "workers busy with browser requests alone: the flood comes from one address); *guarded* is "
        "the defaults (webhooks/browser_guard.py).",
        "",
        f"Run {ran.get('at', '?')} on {ran.get('cpu_model', '?')} ({ran.get('cores', '?')} cores); "
        "its CPU row above says how busy the machine was meanwhile.",
        "",
        md_table(
            [
                "configuration",
                "webhooks",
                "p50 ms",
                "p99 ms",
                "max ms",
                "over 15 s",
                "webhook answers",
                "browser answers",
                "IAM calls",
            ],
            rows,
        ),
        "",
    ]
