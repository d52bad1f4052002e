"""Intake: signed TaskRouter events against the receiver under gunicorn, next to the ceiling.

The Event Streams sink (`sink_levels`): the same events as CloudEvents, in signed batches of 1, 10
and 50 to `/webhooks/event-streams`, with wrk at 32 connections in the same run, against the same
receiver and redis-server; its events/s set beside the callback's at 32 connections.

Closed loop (wrk, Debian's package, with `wrk_signed.lua`): 1, 8, 32 and 64 connections, each
level run against the bare 204 endpoint and the receiver in turn (same gunicorn settings, same
bodies, same script). Open loop (`open_loop`, an asyncio client in this process): a constant
offered rate, latency counted from the moment each request was due, not when it went out, so a
stalled server is charged for the requests it made wait. No Celery worker runs during intake:
every accepted event stays on the broker's `events` list, whose length must equal the number of
204s (an event answered 204 and not queued would be lost).
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
import requests
from twilio.request_validator import RequestValidator

from bench.common import ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, percentile, say, service_env
from ops.embedded_redis import EmbeddedRedis, free_port
from ops.localstack import ServiceProcess, start_web, wait_for
from sandbox.taskrouter.events import snake_case

PATH = "/webhooks/taskrouter"
SINK_PATH = "/webhooks/event-streams"
SINK_BATCHES = (1, 10, 50)
SINK_CONNECTIONS = 32
LUA = Path(__file__).with_name("wrk_signed.lua")
EVENTS_QUEUE = "events"


def event_fields(run: int, n: int) -> dict[str, str]:
    """A `reservation.accepted` as TaskRouter sends it (its richest common event), unique Sid."""
    task = f"WT{run:08x}{n:024x}"
    conversation = f"CH{run:08x}{n:024x}"
    return {
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "WorkspaceName": "Flex Task Assignment",
        "EventType": "reservation.accepted",
        "EventDescription": f"Reservation WR{n:032x} accepted by worker Alice",
        "Sid": f"EV{run:08x}{n:024x}",
        "ResourceType": "reservation",
        "ResourceSid": f"WR{run:08x}{n:024x}",
        "Timestamp": str(1764095000 + n),
        "TimestampMs": str(1764095000000 + n),
        "TaskSid": task,
        "TaskAge": "12",
        "TaskPriority": "0",
        "TaskAssignmentStatus": "assigned",
        "TaskChannelSid": "TC" + "d" * 32,
        "TaskChannelUniqueName": "chat",
        "TaskQueueSid": "WQ" + "e" * 32,
        "TaskQueueName": "Everyone",
        "TaskQueueEnteredDate": "2025-11-25T18:23:20Z",
        "WorkflowSid": "WW" + "c" * 32,
        "WorkflowName": "Assign to Anyone",
        "TaskAttributes": json.dumps(
            {
                "name": "Maria",
                "from": "Maria",
                "channelType": "web",
                "conversationSid": conversation,
                "customerName": "Maria",
                "initiatedBy": "customer",
                "direction": "inbound",
                "customers": {"name": "Maria"},
                "conversations": {"conversation_id": task},
            }
        ),
        "WorkerSid": "WK" + "f" * 32,
        "WorkerName": "alice",
        "WorkerActivityName": "Available",
        "WorkerAttributes": json.dumps(
            {
                "contact_uri": "client:alice",
                "full_name": "Alice Adams",
                "email": "alice@example.com",
                "roles": ["agent"],
                "routing": {"skills": ["sales", "support"], "levels": {}},
            }
        ),
        "ReservationSid": f"WR{run:08x}{n:024x}",
    }


def cloudevent(run: int, n: int) -> dict[str, Any]:
    """The same `reservation.accepted` as Event Streams sends it (TaskRouter.WDSEvent: `data.payload`
    is the callback's fields in snake_case), with its own EV sid and CloudEvent id."""
    fields = event_fields(run, n)
    payload = {snake_case(k): v for k, v in fields.items() if k != "EventType"}
    payload["eventtype"] = fields["EventType"]
    del payload["timestamp_ms"]
    for name in ("task_age", "task_priority"):
        payload[name] = int(payload[name])
    return {
        "specversion": "1.0",
        "type": "com.twilio.taskrouter.reservation.accepted",
        "source": f"/v1/Workspaces/{WORKSPACE_SID}/Tasks/{fields['TaskSid']}",
        "id": f"EZ{run:08x}{n:024x}",
        "dataschema": "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4",
        "datacontenttype": "application/json",
        "time": "2025-11-25T18:23:20.000Z",
        "data": {
            "sid": fields["Sid"],
            "name": "ReservationAccepted",
            "account_sid": ACCOUNT_SID,
            "timestamp": "2025-11-25T18:23:20.000Z",
            "level": "INFO",
            "group": "reservation",
            "product_name": "TaskRouter",
            "publisher": "Flex Task Assignment",
            "payload_type": "application/json",
            "payload": payload,
        },
    }


def write_sink_bodies(path: Path, url: str, run: int, batch: int, requests_count: int) -> None:
    """Lines "<path?bodySHA256=…>\t<signature>\t<JSON batch>", each batch of distinct events."""
    validator = RequestValidator(AUTH_TOKEN)
    with path.open("w") as out:
        for r in range(requests_count):
            body = json.dumps([cloudevent(run, r * batch + i) for i in range(batch)], separators=(",", ":"))
            query = f"bodySHA256={validator.compute_hash(body)}"
            signature = validator.compute_signature(f"{url}?{query}", {})
            out.write(f"{SINK_PATH}?{query}\t{signature}\t{body}\n")


def write_bodies(path: Path, url: str, run: int, count: int) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    with path.open("w") as out:
        for n in range(count):
            fields = event_fields(run, n)
            out.write(f"{validator.compute_signature(url, fields)}\t{urlencode(fields)}\n")


def signed_requests(url: str, host: str, run: int, count: int) -> list[bytes]:
    """Raw HTTP/1.1 requests for the open-loop client."""
    validator = RequestValidator(AUTH_TOKEN)
    out = []
    for n in range(count):
        fields = event_fields(run, n)
        body = urlencode(fields).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {validator.compute_signature(url, fields)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


@dataclass
class ClosedLoop:
    target: str
    connections: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    wrapped: int
    queued: int | None = None  # events on the broker after the run (receiver only)
    round: int = 1


@dataclass
class OpenLoop:
    target: str
    offered_rps: float
    seconds: float
    sent: int
    answered_2xx: int
    refused: int
    failed: int
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    queued: int | None = None
    lost: int | None = None
    generator_cpu_share: float = 0.0
    late_sends: int = 0


@dataclass
class SinkLevel:
    """The sink at one batch size: events/s is requests/s times the batch size."""

    batch: int
    connections: int
    seconds: float
    rps: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    wrapped: int
    queued: int  # events on the broker after the run: must be ≥ the events answered 2xx
    round: int = 1


@dataclass
class IntakeResult:
    closed: list[ClosedLoop] = field(default_factory=list)  # the best round of each (target, level)
    all_runs: list[ClosedLoop] = field(default_factory=list)
    rounds: int = 1
    open: list[OpenLoop] = field(default_factory=list)
    gunicorn_workers: int = 2
    wrk_version: str = ""
    event_bytes: int = 0
    sink: list[SinkLevel] = field(default_factory=list)  # the best round of each batch size
    sink_runs: list[SinkLevel] = field(default_factory=list)
    sink_callback: ClosedLoop | None = None  # the callback at 32 connections, in the sink's rounds
    cloudevent_bytes: int = 0

    def level(self, target: str, connections: int) -> ClosedLoop:
        return next(r for r in self.closed if r.target == target and r.connections == connections)


def run_wrk(
    url: str, bodies: Path, connections: int, seconds: float, content_type: str | None = None
) -> dict[str, Any]:
    threads = min(2, connections)
    args = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(LUA), url, "--", str(bodies), str(threads), PATH, *([content_type] if content_type else []),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return json.loads(line[len("BENCH ") :])


async def _open_loop(
    host: str, port: int, payloads: list[bytes], rate: float
) -> tuple[list[float], list[int], int]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = [0.0] * len(payloads)
    statuses: list[int] = [0] * len(payloads)
    late = 0

    async def one(i: int, due: float) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payloads[i])
            head = await reader.readuntil(b"\r\n\r\n")
            statuses[i] = int(head[9:12])
            latencies[i] = loop.time() - due
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            statuses[i] = -1
            latencies[i] = loop.time() - due

    start = loop.time() + 0.05
    tasks = []
    for i in range(len(payloads)):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.002:
            late += 1
        tasks.append(loop.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return latencies, statuses, late


def open_loop(
    target: str, base: str, payloads: list[bytes], rate: float, client: redis.Redis | None
) -> OpenLoop:
    host, port = base.removeprefix("http://").split(":")
    if client is not None:
        client.delete(EVENTS_QUEUE)
    # The generator's own collector is kept out of the run: a full pass over the 20,000 prepared
    # requests stalls it for tens of milliseconds, and every request due meanwhile would be
    # charged to the server (latency counts from when a request was due).
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies, statuses, late = asyncio.run(_open_loop(host, int(port), payloads, rate))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        gc.enable()
        gc.unfreeze()
    ok = sum(1 for s in statuses if 200 <= s < 300)
    queued = client.llen(EVENTS_QUEUE) if client is not None else None
    return OpenLoop(
        target=target,
        offered_rps=rate,
        seconds=len(payloads) / rate,
        sent=len(payloads),
        answered_2xx=ok,
        refused=sum(1 for s in statuses if s >= 300),
        failed=sum(1 for s in statuses if s < 0),
        achieved_rps=ok / wall,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=max(latencies) * 1000,
        queued=queued,
        lost=(ok - queued) if queued is not None else None,
        generator_cpu_share=cpu / wall,
        late_sends=late,
    )


def measure_level(
    name: str, url: str, connections: int, seconds: float, workdir: Path, run_id: int, client: redis.Redis
) -> ClosedLoop:
    bodies = workdir / "bodies.txt"
    write_bodies(bodies, f"{url}{PATH}", run_id, int(3200 * seconds) + 2000)
    client.delete(EVENTS_QUEUE)
    out = run_wrk(url, bodies, connections, seconds)
    kinds = ("status_errors", "connect_errors", "read_errors", "timeouts")
    return ClosedLoop(
        target=name,
        connections=connections,
        seconds=out["duration_us"] / 1e6,
        rps=out["requests"] / (out["duration_us"] / 1e6),
        p50_ms=out["p50_us"] / 1000,
        p90_ms=out["p90_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        max_ms=out["max_us"] / 1000,
        requests=out["requests"],
        errors=sum(out[k] for k in kinds),
        wrapped=out["wrapped"],
        queued=client.llen(EVENTS_QUEUE) if name == "receiver" else None,
    )


def measure_sink(
    url: str, batch: int, seconds: float, workdir: Path, run_id: int, client: redis.Redis, rate_guess: float
) -> SinkLevel:
    """One batch size: enough distinct batches for `rate_guess` requests/s (no wrap-around)."""
    bodies = workdir / f"sink-{batch}.txt"
    write_sink_bodies(bodies, f"{url}{SINK_PATH}", run_id, batch, int(rate_guess * seconds * 1.5) + 200)
    client.delete(EVENTS_QUEUE)
    out = run_wrk(url, bodies, SINK_CONNECTIONS, seconds, "application/json")
    bodies.unlink()
    kinds = ("status_errors", "connect_errors", "read_errors", "timeouts")
    duration = out["duration_us"] / 1e6
    return SinkLevel(
        batch=batch,
        connections=SINK_CONNECTIONS,
        seconds=duration,
        rps=out["requests"] / duration,
        events_per_s=out["requests"] * batch / duration,
        p50_ms=out["p50_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        requests=out["requests"],
        errors=sum(out[k] for k in kinds),
        wrapped=out["wrapped"],
        queued=client.llen(EVENTS_QUEUE),
    )


def sink_levels(
    result: IntakeResult,
    base: str,
    rounds: int,
    seconds: float,
    workdir: Path,
    run_id: int,
    client: redis.Redis,
) -> int:
    """Each batch size, a 1 s probe to size its bodies, then `rounds` runs; the best round counts."""
    result.cloudevent_bytes = len(json.dumps(cloudevent(0, 0), separators=(",", ":")))
    guesses = {}
    for batch in SINK_BATCHES:
        probe = measure_sink(base, batch, 1.0, workdir, run_id, client, 4000 / batch)
        guesses[batch] = max(probe.rps, 1.0) * 1.5
        run_id += 1
    callbacks = []
    for round_no in range(rounds):
        callback = measure_level("receiver", base, SINK_CONNECTIONS, seconds, workdir, run_id, client)
        run_id += 1
        callback.round = round_no + 1
        callbacks.append(callback)
        say(f"intake r{round_no + 1} callback c={SINK_CONNECTIONS} {callback.rps:7.0f} events/s")
        for batch in SINK_BATCHES:
            level = measure_sink(base, batch, seconds, workdir, run_id, client, guesses[batch])
            run_id += 1
            level.round = round_no + 1
            result.sink_runs.append(level)
            say(
                f"intake r{round_no + 1} sink batch={batch:<3d} {level.rps:7.0f} req/s "
                f"{level.events_per_s:7.0f} events/s p50 {level.p50_ms:6.2f} ms p99 {level.p99_ms:6.2f} ms "
                f"queued {level.queued} wrapped {level.wrapped}"
            )
    for batch in SINK_BATCHES:
        result.sink.append(max((r for r in result.sink_runs if r.batch == batch), key=lambda r: r.rps))
    result.sink_callback = max(callbacks, key=lambda r: r.rps)
    return run_id


def run(quick: bool) -> IntakeResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    seconds = 2.0 if quick else 8.0
    rounds = 1 if quick else 2
    open_seconds = 3.0 if quick else 20.0
    levels = (1, 8, 32, 64)
    result = IntakeResult(rounds=rounds)
    wrk_banner = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    result.wrk_version = (wrk_banner.stdout + wrk_banner.stderr).strip().splitlines()[0]
    workdir = Path(tempfile.mkdtemp(prefix="cft-bench-intake-"))
    with EmbeddedRedis() as server:
        env = service_env(server.url)
        client = redis.Redis.from_url(server.url)
        web, base = start_web(env, workers=result.gunicorn_workers)
        ceiling_port = free_port()
        ceiling = ServiceProcess(
            "ceiling",
            [sys.executable, "-m", "bench.ceiling", "--port", str(ceiling_port),
             "--workers", str(result.gunicorn_workers)],
            env,
        )  # fmt: skip
        ceiling_base = f"http://127.0.0.1:{ceiling_port}"
        try:
            wait_for(lambda: requests.get(ceiling_base, timeout=1).status_code == 204, 60, 0.05, "ceiling")
            targets = {"ceiling": ceiling_base, "receiver": base}
            result.event_bytes = len(urlencode(event_fields(0, 0)))
            run_id = int(time.time()) & 0xFFFF
            # A short warm-up of each server (imports, first connections) outside the numbers.
            for name, url in targets.items():
                bodies = workdir / f"warm-{name}.txt"
                write_bodies(bodies, f"{url}{PATH}", run_id, 2000)
                run_wrk(url, bodies, 8, 1)
                run_id += 1
            # Rounds: every level against both targets, then again; the round with the higher rate
            # counts for each (target, level), so a burst of foreign load on a shared machine does
            # not decide a ratio. Every run is kept in `all_runs`.
            for round_no in range(rounds):
                for connections in levels:
                    for name, url in targets.items():
                        level = measure_level(name, url, connections, seconds, workdir, run_id, client)
                        run_id += 1
                        level.round = round_no + 1
                        result.all_runs.append(level)
                        say(
                            f"intake r{round_no + 1} {name:8s} c={connections:<3d} {level.rps:7.0f}/s "
                            f"p50 {level.p50_ms:6.2f} ms p99 {level.p99_ms:6.2f} ms"
                            + (f" queued {level.queued}" if level.queued is not None else "")
                        )
            for connections in levels:
                for name in targets:
                    runs = [r for r in result.all_runs if r.target == name and r.connections == connections]
                    result.closed.append(max(runs, key=lambda r: r.rps))
            run_id = sink_levels(result, base, rounds + 1, seconds / 2, workdir, run_id, client)
            rate = 1000.0
            for name, url in targets.items():
                payloads = signed_requests(
                    f"{url}{PATH}", url.removeprefix("http://"), run_id, int(rate * open_seconds)
                )
                run_id += 1
                ol = open_loop(name, url, payloads, rate, client if name == "receiver" else None)
                result.open.append(ol)
                say(
                    f"intake open loop {name:8s} {ol.offered_rps:.0f}/s offered: p50 {ol.p50_ms:.2f} ms "
                    f"p99 {ol.p99_ms:.2f} ms, {ol.answered_2xx}/{ol.sent} 2xx"
                    + (f", queued {ol.queued}, lost {ol.lost}" if ol.queued is not None else "")
                )
        finally:
            ceiling.stop()
            web.stop()
            client.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return result
