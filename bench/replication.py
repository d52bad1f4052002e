"""Replicated Redis: what waiting for a replica costs (`python -m bench --only ha`).

One replicated Redis on loopback (`ops.redis_ha.RedisHA`: a redis-server primary and replica and
three Sentinels, plain TCP), the service on `redis+sentinel://`, with REDIS_WAIT_REPLICAS=0 and
=1 side by side in the same run:

- **per write**, in this process: one state transition (WATCH, GET, MULTI/EXEC, and with WAIT a
  WAIT on the same connection) and one intake script call (with WAIT in the same round trip),
  many times each, the two settings alternated in blocks;
- **intake**: two receivers (gunicorn, 2 sync workers each), one per setting, fed the same
  signed events at a constant rate (open loop, latency from when each request was due), the
  settings alternated over rounds;
- **end to end**: the warm transfer of bench/e2e (`POST /transfers` → the transfer task created
  and `transfer-started` posted, at the sandbox), a stack per setting one after the other on the
  same Redis: every state change, record and message of a transfer waits for the replica.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import percentile, say, service_env
from ops.localstack import LocalStack, start_web
from ops.redis_ha import RedisHA
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.intake_dedupe import IntakeDedupe
from worker.adapters.redis_clients import redis_client
from worker.settings import settings_from

SETTINGS = {"off": 0, "on": 1}


@dataclass
class WriteCost:
    operation: str
    wait: str
    n: int
    p50_us: float
    p99_us: float


@dataclass
class IntakeRun:
    wait: str
    round: int
    offered_rps: float
    sent: int
    answered_2xx: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int | None


@dataclass
class TransferRun:
    wait: str
    round: int
    rate: float
    transfers: int
    created_p50_ms: float
    created_p99_ms: float
    started_p50_ms: float
    started_p99_ms: float
    request_p50_ms: float
    request_p99_ms: float
    failed: int
    missing: int


@dataclass
class ReplicationResult:
    redis_server: str = ""
    wait_timeout_ms: int = 500
    writes: list[WriteCost] = field(default_factory=list)
    intake: list[IntakeRun] = field(default_factory=list)
    transfers: list[TransferRun] = field(default_factory=list)


def _fields(measured: Any, kind: type) -> dict[str, Any]:
    """The fields of `kind` (but its first, the setting) taken from a measurement of bench.intake/e2e."""
    names = [f.name for f in dataclasses.fields(kind)][1:]
    return {name: getattr(measured, name) for name in names if hasattr(measured, name)}


def _env(ha: RedisHA, wait: int) -> dict[str, str]:
    return service_env(ha.url, **ha.env(wait_replicas=wait, wait_timeout_ms=500))


def write_costs(ha: RedisHA, n: int) -> list[WriteCost]:
    """One transition and one intake script call, timed one by one, the settings in turn."""
    stores = {}
    intakes = {}
    for name, wait in SETTINGS.items():
        client = redis_client(settings_from(_env(ha, wait)), socket_timeout=5)
        stores[name] = ConversationStore(client, 3600)
        intakes[name] = IntakeDedupe(client, 3600)
    samples: dict[tuple[str, str], list[float]] = {}
    block = 100
    for start in range(0, n, block):
        for name in SETTINGS:
            transition = samples.setdefault(("transition", name), [])
            script = samples.setdefault(("intake script", name), [])
            for i in range(start, start + block):
                t0 = time.perf_counter()
                stores[name].transition(f"CHbench{name}{i % 50}", lambda s, i=i: s.track(f"WT{i}"))
                t1 = time.perf_counter()
                intakes[name].queue_once(f"bench:{name}:{i}", "bench-events", "{}")
                t2 = time.perf_counter()
                transition.append((t1 - t0) * 1e6)
                script.append((t2 - t1) * 1e6)
    ha.master().client().flushall()
    return [
        WriteCost(op, name, len(values), percentile(values, 50), percentile(values, 99))
        for (op, name), values in samples.items()
    ]


def intake_latency(ha: RedisHA, rate: float, seconds: float, rounds: int) -> list[IntakeRun]:
    from bench.intake import PATH, open_loop, signed_requests

    receivers = {}
    for name, wait in SETTINGS.items():
        receivers[name] = start_web(_env(ha, wait), workers=2)
    reader = redis_client(settings_from(_env(ha, 0)))
    runs = []
    run_id = int(time.time()) & 0xFFFF
    try:
        for name, (_, base) in receivers.items():  # warm-up: imports, first connections
            open_loop(name, base, signed_requests(f"{base}{PATH}", base[7:], run_id, 200), 200.0, reader)
            run_id += 1
        for round_no in range(1, rounds + 1):
            for name in SETTINGS if round_no % 2 else reversed(SETTINGS):  # off, on; then on, off
                base = receivers[name][1]
                payloads = signed_requests(f"{base}{PATH}", base[7:], run_id, int(rate * seconds))
                run_id += 1
                result = open_loop(name, base, payloads, rate, reader)
                runs.append(IntakeRun(name, round_no, **_fields(result, IntakeRun)))
                say(
                    f"ha intake WAIT {name:3s} r{round_no}: p50 {result.p50_ms:.2f} ms "
                    f"p99 {result.p99_ms:.2f} ms, {result.answered_2xx}/{result.sent} 2xx, lost {result.lost}"
                )
    finally:
        for web, _ in receivers.values():
            web.stop()
        reader.flushall()
    return runs


def transfer_latency(ha: RedisHA, plan: list[tuple[float, float]], rounds: int) -> list[TransferRun]:
    """A stack per setting and round: off then on, then on then off, so that a drift in the
    machine's foreign load is not charged to one setting."""
    from bench.e2e import measure_rate, prepare, subscribe_as_setup_does, workers_spec

    spec = workers_spec()
    names = [w["name"] for w in spec]
    runs = []
    order = [
        (round_no, name)
        for round_no in range(1, rounds + 1)
        for name in (SETTINGS if round_no % 2 else reversed(SETTINGS))
    ]
    for round_no, name in order:
        wait = SETTINGS[name]
        settings = ha.env(wait_replicas=wait, wait_timeout_ms=500)
        with LocalStack(
            redis_url=ha.url, settings=settings, worker_count=1, worker_concurrency=2, workers_spec=spec
        ) as stack:
            subscribe_as_setup_does(stack)
            chats = prepare(stack, sum(int(rate * seconds) for rate, seconds in plan), names)
            offset = 0
            for rate, seconds in plan:
                count = int(rate * seconds)
                r = measure_rate(stack, chats[offset : offset + count], rate)
                offset += count
                runs.append(TransferRun(name, round_no, **_fields(r, TransferRun)))
                say(
                    f"ha e2e WAIT {name:3s} {rate:.0f}/s x {count}: transfer-started p50 "
                    f"{r.started_p50_ms:.0f} ms p99 {r.started_p99_ms:.0f} ms, missing {r.missing}"
                )
        ha.master().client().flushall()
    return runs


def run(quick: bool) -> ReplicationResult:
    result = ReplicationResult()
    with RedisHA() as ha:
        result.redis_server = str(ha.binary)
        say(f"ha: primary, replica and 3 Sentinels up ({ha.url})")
        result.writes = write_costs(ha, 1000 if quick else 4000)
        for cost in result.writes:
            say(f"ha {cost.operation} WAIT {cost.wait}: p50 {cost.p50_us:.0f} µs p99 {cost.p99_us:.0f} µs")
        result.intake = intake_latency(ha, 300.0, 3.0 if quick else 10.0, 1 if quick else 2)
        plan = [(5.0, 3.0), (20.0, 3.0)] if quick else [(5.0, 10.0), (20.0, 10.0)]
        result.transfers = transfer_latency(ha, plan, 1 if quick else 2)
    return result


# ---- docs/benchmarks.md ----------------------------------------------------------------------------


def _least_disturbed(ha: dict[str, Any]) -> str:
    """Each setting's quietest round (lowest p99): on a shared machine, the closest to its cost."""

    def best(runs: list[dict[str, Any]], wait: str, key: str, **where: Any) -> float:
        values = [r[key] for r in runs if r["wait"] == wait and all(r[k] == v for k, v in where.items())]
        return min(values, default=float("nan"))

    intake = ha["intake"]
    parts = [
        f"intake p99 {best(intake, 'off', 'p99_ms'):.1f} ms off, {best(intake, 'on', 'p99_ms'):.1f} ms on"
    ]
    for rate in sorted({r["rate"] for r in ha["transfers"]}):
        off = best(ha["transfers"], "off", "started_p99_ms", rate=rate)
        on = best(ha["transfers"], "on", "started_p99_ms", rate=rate)
        parts.append(f"transfer-started p99 at {rate:.0f}/s {off:.0f} ms off, {on:.0f} ms on")
    return "Each setting's quietest round (lowest p99): " + "; ".join(parts) + "."


def _write_costs(ha: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(operation, WAIT off, WAIT on) for each write measured both ways."""
    writes = {(w["operation"], w["wait"]): w for w in ha["writes"]}
    pairs = [(op, writes.get((op, "off")), writes.get((op, "on"))) for op in ("transition", "intake script")]
    return [(op, off, on) for op, off, on in pairs if off and on]


def table_lines(details: dict[str, Any]) -> list[str]:
    """The printed table's lines: what WAIT for a replica adds to one write."""
    ha = details.get("ha")
    return [
        f"Replicated Redis, {op}: p50 {off['p50_us']:.0f} µs with WAIT off, "
        f"{on['p50_us']:.0f} µs on ({on['p50_us'] - off['p50_us']:+.0f} µs)"
        for op, off, on in (_write_costs(ha) if ha else [])
    ]


def section(details: dict[str, Any]) -> list[str]:
    ha = details.get("ha")
    if not ha:
        return []
    lines = [
        "",
        "## Replicated Redis: WAIT for a replica, on and off",
        "",
        "`python -m bench --only ha` (`bench/replication.py`): a redis-server primary and replica and "
        "three Sentinels on loopback, the service on `redis+sentinel://`, with `REDIS_WAIT_REPLICAS=1` "
        "(every state transition, transfer record, intake script and receiver-pushed message confirmed by "
        'the replica before it is acted on; docs/reliability.md, "Failover") and `=0`, side by side in '
        "the same run. On loopback the replica's acknowledgement is a round trip between two processes on "
        "the same two cores; across machines, add the network's round trip to each write. "
        f"Measured on {details.get('ran', {}).get('ha', {}).get('cpu_model', '?')}. "
        f"Foreign load took {details.get('cpu', {}).get('ha', {}).get('foreign', 0):.0%} of the machine "
        "during this section: read the per-write costs first, and the rounds' spread before any "
        "single latency.",
        "",
        "| per write (in-process, one at a time) | WAIT off p50 / p99 | WAIT on p50 / p99 | added p50 |",
        "|---|---|---|---|",
    ]
    for op, off, on in _write_costs(ha):
        lines.append(
            f"| {op} ({off['n']}) | {off['p50_us']:.0f} / {off['p99_us']:.0f} µs | "
            f"{on['p50_us']:.0f} / {on['p99_us']:.0f} µs | {on['p50_us'] - off['p50_us']:+.0f} µs |"
        )
    lines += ["", _least_disturbed(ha)]
    lines += [
        "",
        "| intake, open loop (2 gunicorn workers) | round | offered | 2xx / sent | p50 ms | p99 ms "
        "| max ms | lost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(ha["intake"], key=lambda r: (r["round"], r["wait"] == "on")):
        lines.append(
            f"| WAIT {r['wait']} | {r['round']} | {r['offered_rps']:.0f}/s | "
            f"{r['answered_2xx']} / {r['sent']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['max_ms']:.1f} | {r['lost']} |"
        )
    lines += [
        "",
        "| warm transfer end to end | round | rate | transfers | task created p50 / p99 ms | "
        "transfer-started p50 / p99 ms | POST /transfers p50 / p99 ms | failed | missing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(ha["transfers"], key=lambda r: (r["rate"], r.get("round", 1), r["wait"] == "on")):
        lines.append(
            f"| WAIT {r['wait']} | {r.get('round', 1)} | {r['rate']:.0f}/s | {r['transfers']} | "
            f"{r['created_p50_ms']:.0f} / "
            f"{r['created_p99_ms']:.0f} | {r['started_p50_ms']:.0f} / {r['started_p99_ms']:.0f} | "
            f"{r['request_p50_ms']:.0f} / {r['request_p99_ms']:.0f} | {r['failed']} | {r['missing']} |"
        )
    return lines
