"""The table, `bench/results.json`'s headline numbers and `docs/benchmarks.md`."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

from bench import browser, doc_sections, replication
from bench.markdown import md_table, pct

KEYS = (
    "intake.ceiling_rps",
    "intake.rps_at_32",
    "intake.ratio_to_ceiling",
    "intake.p99_ms_at_32",
    "intake.ceiling_p99_ms_at_32",
    "intake.p99_ms_at_1000rps",
    "e2e.p99_ms_at_20",
    "cost.rest_calls_per_warm_lifecycle",
    "cost.rest_calls_per_warm_lifecycle_lean",
    "scale.redis_bytes_per_chat",
    "scale.reconcile_seconds_10k",
)
LIBRARIES = ("celery", "kombu", "redis", "flask", "werkzeug", "gunicorn", "twilio", "pyinstrument", "psutil")


def _version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"


def machine() -> dict[str, Any]:
    import psutil

    from ops.embedded_redis import redis_server_binary

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo").read().splitlines()  # noqa: SIM115
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": versions,
        "redis_server": _version([redis_server_binary(), "--version"]),
        "wrk": _version(["wrk", "-v"]),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _num(value: Any, digits: int = 1) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _level(intake: dict[str, Any], target: str, connections: int) -> dict[str, Any]:
    return next(r for r in intake["closed"] if r["target"] == target and r["connections"] == connections)


def headline(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    intake = details.get("intake")
    if intake:
        ceiling, receiver = _level(intake, "ceiling", 32), _level(intake, "receiver", 32)
        open_receiver = next(r for r in intake["open"] if r["target"] == "receiver")
        out["intake.ceiling_rps"] = _num(ceiling["rps"])
        out["intake.rps_at_32"] = _num(receiver["rps"])
        out["intake.ratio_to_ceiling"] = _num(receiver["rps"] / ceiling["rps"], 3)
        out["intake.p99_ms_at_32"] = _num(receiver["p99_ms"], 2)
        out["intake.ceiling_p99_ms_at_32"] = _num(ceiling["p99_ms"], 2)
        out["intake.p99_ms_at_1000rps"] = _num(open_receiver["p99_ms"], 2)
    e2e = details.get("e2e")
    if e2e:
        at20 = next((r for r in e2e["rates"] if r["rate"] == 20.0), None)
        out["e2e.p99_ms_at_20"] = _num(at20["started_p99_ms"]) if at20 else None
        out["cost.rest_calls_per_warm_lifecycle"] = len(e2e["cost"]["calls"])
        if e2e["cost"].get("lean_calls"):
            out["cost.rest_calls_per_warm_lifecycle_lean"] = len(e2e["cost"]["lean_calls"])
    scale = details.get("scale")
    if scale:
        out["scale.redis_bytes_per_chat"] = _num(scale["bytes_per_chat_info"], 0)
        out["scale.reconcile_seconds_10k"] = _num(scale["full_pass"]["seconds_10k"], 2)
    return out


def _fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        text = (
            f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
        )
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def targets(details: dict[str, Any], h: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    ratio = h.get("intake.ratio_to_ceiling")
    rows.append(
        (
            "intake throughput at 32 connections",
            "≥ 60 % of the ceiling",
            _fmt(ratio * 100 if ratio is not None else None, " %"),
            _verdict(None if ratio is None else ratio >= 0.6),
        )
    )
    p99, cp99 = h.get("intake.p99_ms_at_32"), h.get("intake.ceiling_p99_ms_at_32")
    rows.append(
        (
            "intake p99 at 32 connections",
            "≤ 1.5 x the ceiling's p99",
            f"{_fmt(p99, ' ms')} vs {_fmt(cp99, ' ms')} ({_fmt(p99 / cp99 if p99 and cp99 else None, 'x')})",
            _verdict(None if not (p99 and cp99) else p99 <= 1.5 * cp99),
        )
    )
    intake = details.get("intake") or {}
    open_receiver = next((r for r in intake.get("open", []) if r["target"] == "receiver"), None)
    lost = open_receiver.get("lost") if open_receiver else None
    p99o = h.get("intake.p99_ms_at_1000rps")
    rows.append(
        (
            "intake p99 at 1,000 events/s offered, none lost",
            "≤ 25 ms, 0 lost",
            f"{_fmt(p99o, ' ms')}, lost {_fmt(lost)}",
            _verdict(None if p99o is None else (p99o <= 25 and lost == 0)),
        )
    )
    e2e = h.get("e2e.p99_ms_at_20")
    rows.append(
        (
            "transfer → task created + transfer-started, p99 at 20/s",
            "≤ 150 ms",
            _fmt(e2e, " ms"),
            _verdict(None if e2e is None else e2e <= 150),
        )
    )
    cost = h.get("cost.rest_calls_per_warm_lifecycle")
    rows.append(
        (
            "Twilio REST calls per warm lifecycle",
            "≤ 10 (Flex template ≈ 25)",
            _fmt(cost),
            _verdict(None if cost is None else cost <= 10),
        )
    )
    lean = h.get("cost.rest_calls_per_warm_lifecycle_lean")
    if lean is not None:
        rows.append(
            (
                "the same, `MIRROR_ASSOCIATED_TASKS` off (`VERIFY_END_WITH_TASKROUTER` on)",
                "≤ 11 (the story's 10 and the end's safety check)",
                _fmt(lean),
                _verdict(lean <= 11),
            )
        )
    size = h.get("scale.redis_bytes_per_chat")
    rows.append(
        (
            "Redis bytes per tracked chat (with its transfer record)",
            "≤ 2 KB (2,048 B)",
            _fmt(size, " B"),
            _verdict(None if size is None else size <= 2048),
        )
    )
    return rows  # fmt: skip


def table(details: dict[str, Any], h: dict[str, Any]) -> str:
    lines = []
    intake = details.get("intake")
    if intake:
        lines.append(
            "Intake, closed loop (wrk)     conns   ceiling/s   receiver/s  ratio"
            "   p50 ms (c/r)     p99 ms (c/r)"
        )
        for c in (1, 8, 32, 64):
            ce, re_ = _level(intake, "ceiling", c), _level(intake, "receiver", c)
            lines.append(
                f"{'':30s}{c:>5d} {ce['rps']:>11.0f} {re_['rps']:>12.0f} {re_['rps'] / ce['rps']:>6.2f}"
                f"   {ce['p50_ms']:>6.2f}/{re_['p50_ms']:<7.2f}  {ce['p99_ms']:>7.2f}/{re_['p99_ms']:<7.2f}"
            )
        callback = intake.get("sink_callback") or _level(intake, "receiver", 32)
        for level in intake.get("sink", []):
            lines.append(
                f"Intake, Event Streams sink c=32 batch {level['batch']:>2d}: "
                f"{level['events_per_s']:>7.0f} events/s "
                f"({level['events_per_s'] / callback['rps']:.1f}x the callback's {callback['rps']:.0f}/s)  "
                f"p50 {level['p50_ms']:.2f} ms p99 {level['p99_ms']:.2f} ms"
            )
        for ol in intake["open"]:
            lines.append(
                f"Intake, open loop {ol['offered_rps']:.0f}/s {ol['target']:9s} p50 {ol['p50_ms']:.2f} ms  "
                f"p99 {ol['p99_ms']:.2f} ms  2xx {ol['answered_2xx']}/{ol['sent']}"
                + (f"  queued {ol['queued']} lost {ol['lost']}" if ol.get("queued") is not None else "")
            )
    e2e = details.get("e2e")
    if e2e:
        for r in e2e["rates"]:
            lines.append(
                f"End to end {r['rate']:>4.0f} transfers/s x {r['transfers']:<4d} transfer-started p50 "
                f"{r['started_p50_ms']:.0f} ms  p99 {r['started_p99_ms']:.0f} ms  (task created p99 "
                f"{r['created_p99_ms']:.0f} ms)  failed {r['failed']} missing {r['missing']}"
            )
        lines.append(
            f"Cost: {len(e2e['cost']['calls'])} Twilio REST calls per warm lifecycle "
            f"({len(e2e['cost']['cold_cache_calls'])} with a cold name cache)"
        )
    scale = details.get("scale")
    if scale:
        lines.append(
            f"Scale: {scale['bytes_per_chat_info']:.0f} B per tracked chat (INFO), "
            f"reconcile pass {scale['full_pass']['seconds_10k']:.1f} s and "
            f"{scale['full_pass']['twilio_calls_10k']:.0f} Twilio calls for 10,000 chats"
            + (
                " (extrapolated from " + str(scale["chats"]) + ")"
                if scale.get("full_pass_extrapolated")
                else ""
            )
        )
    lines += replication.table_lines(details) + browser.table_lines(details)
    lines.append("")
    lines.append(f"{'target':58s} {'goal':28s} {'measured':30s} verdict")
    for name, goal, measured, verdict in targets(details, h):
        lines.append(f"{name:58s} {goal:28s} {measured:30s} {verdict.replace('*', '')}")
    return "\n".join(lines)


def document(details: dict[str, Any], h: dict[str, Any]) -> str:
    m = details["machine"]
    cpu = details.get("cpu", {})
    parts = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (full) or `python -m bench --quick` (under three minutes); "
        "`python -m bench --report-only` rewrites this page from the last run's details. "
        "Benchmarks are their own command, never timed assertions in the tests.",
        "",
        "- `bench/results.json`: the ten headline numbers, **flat dotted keys** (`intake.ceiling_rps`, …), "
        "so runs compare key by key;",
        "- `bench/results-details.json`: everything measured, nested by section;",
        "- `bench/profiles/*.txt`: the pyinstrument profiles this page summarises.",
        "",
        f"This run: **{details.get('mode', '?')}** mode, {details.get('run_at', '?')}, "
        f"{details.get('seconds', 0):.0f} s. Sections run in other modes: "
        + (", ".join(f"{k} ({v})" for k, v in details.get("modes", {}).items()) or "none")
        + ".",
        "",
        "## The machine",
        "",
        md_table(
            ["", ""],
            [
                ["cores", m["cores"]],
                ["memory", f"{m['memory_gib']} GiB"],
                ["CPU", m["cpu_model"]],
                ["OS", m["os"]],
                ["Python", m["python"]],
                ["redis-server", m["redis_server"]],
                ["wrk", m["wrk"]],
                *[[name, version] for name, version in m["libraries"].items()],
            ],
        ),
        "",
        "**The machine is shared.** Each section's CPU use is measured from `/proc/stat` and `os.times()`: "
        "*ours* is this benchmark and every process it started, *foreign* is whatever else ran meanwhile "
        "(on a developer machine: other test suites). Foreign load takes cores from the servers and the "
        "load generators alike, so latencies and rates in a section with a high foreign share are "
        "pessimistic.",
        "",
        md_table(
            ["section", "seconds", "machine busy", "ours", "foreign", "load average start → end"],
            [
                [
                    name,
                    c["seconds"],
                    pct(c["machine_busy"]),
                    pct(c["ours"]),
                    pct(c["foreign"]),
                    f"{c['loadavg_start']} → {c['loadavg_end']}",
                ]
                for name, c in cpu.items()
            ],
        ),
        "",
        "## Results against the targets",
        "",
        md_table(["what", "target", "measured", "verdict"], [list(row) for row in targets(details, h)]),
        "",
        "`intake.ceiling_rps` is the bare endpoint's rate at 32 connections, the level `intake.rps_at_32` "
        "is measured at; `intake.ratio_to_ceiling` is their ratio. `e2e.p99_ms_at_20` is the p99 from "
        "`POST /transfers` to the `transfer-started` notice reaching Twilio (the transfer task is created "
        "before it). `scale.redis_bytes_per_chat` counts the chat's state, its task index, its entry in "
        "the active set and its transfer record (INFO used_memory before/after, divided by the chats).",
    ]
    parts += _intake_section(details)
    parts += doc_sections.e2e(details)
    parts += doc_sections.cost(details)
    parts += doc_sections.scale(details)
    parts += replication.section(details)
    parts += doc_sections.profiles(details)
    parts += browser.section(details)
    parts += PROPOSALS
    return "\n".join(parts) + "\n"


def _intake_section(details: dict[str, Any]) -> list[str]:
    intake = details.get("intake")
    if not intake:
        return []
    rows = []
    for c in (1, 8, 32, 64):
        ce, re_ = _level(intake, "ceiling", c), _level(intake, "receiver", c)
        rows.append(
            [
                c,
                f"{ce['rps']:,.0f}",
                f"{re_['rps']:,.0f}",
                f"{re_['rps'] / ce['rps']:.2f}",
                f"{ce['p50_ms']:.2f} / {re_['p50_ms']:.2f}",
                f"{ce['p99_ms']:.2f} / {re_['p99_ms']:.2f}",
                f"{re_['p99_ms'] / ce['p99_ms']:.2f}",
                f"{re_['queued']} / {re_['requests']}",
                ce["errors"] + re_["errors"],
            ]
        )
    open_rows = [
        [
            ol["target"],
            f"{ol['offered_rps']:.0f}/s for {ol['seconds']:.0f} s",
            f"{ol['achieved_rps']:.0f}/s",
            f"{ol['p50_ms']:.2f}",
            f"{ol['p99_ms']:.2f}",
            f"{ol['max_ms']:.1f}",
            f"{ol['answered_2xx']} / {ol['sent']}",
            "—" if ol.get("queued") is None else f"{ol['queued']} queued, {ol['lost']} lost",
            pct(ol["generator_cpu_share"]),
            ol["late_sends"],
        ]
        for ol in intake["open"]
    ]
    return [
        "",
        "## Intake",
        "",
        f"The receiver (`chat-transfer web`: gunicorn, {intake['gunicorn_workers']} sync workers, the "
        "receiver's own settings) and the ceiling (`bench/ceiling.py`: a bare WSGI app that reads the "
        "body and answers 204, served by the same `webhooks.server.serve` and so the same gunicorn "
        "settings) run side by side on one embedded redis-server; each level is run against one, then "
        f"the other. Each request is a signed `reservation.accepted` TaskRouter event of "
        f"{intake['event_bytes']:,} bytes with its own `Sid`, so dedupe never short-circuits. No "
        "Celery worker runs: every accepted event stays on the broker's `events` list, and *queued* "
        "counts it after the run (a 204 without a queued event would be a lost event).",
        "",
        f"**Closed loop** with `wrk` ({intake['wrk_version']}, Debian's package) and "
        "`bench/wrk_signed.lua`, which loads pre-signed bodies (signature computed with "
        "`twilio.request_validator.RequestValidator`) into a Lua table per thread; threads interleave "
        "their rows so no Sid repeats. Latency is wrk's (request written → response read). "
        f"{intake.get('rounds', 1)} round(s): every level against both targets, then again; the "
        "round with the higher rate counts for each target and level (all runs are in the details "
        "file), so one burst of foreign load does not decide a ratio. *Queued* can exceed *answered* "
        "by the requests still in flight when wrk stopped.",
        "",
        md_table(
            [
                "connections",
                "ceiling /s",
                "receiver /s",
                "ratio",
                "p50 ms ceiling / receiver",
                "p99 ms ceiling / receiver",
                "p99 ratio",
                "queued / answered",
                "errors",
            ],
            rows,
        ),
        "",
        "**Open loop** with `bench/intake.py`'s asyncio client (this process): requests due at a "
        "constant rate, each on its own connection (gunicorn's sync worker closes every connection "
        "anyway), latency counted from the moment each request was *due*, so a stalled server is "
        "charged for the requests that waited behind it (no coordinated omission). The generator "
        "runs with its garbage collector off (a full pass over the prepared requests would stall "
        "it, and every request due meanwhile would be charged to the server). Its "
        "own CPU share and its late sends (> 2 ms behind schedule) are listed: Python is a slower "
        "load generator than wrk, and on two cores it competes with the servers. The ceiling row "
        "shows what the same generator and gunicorn achieve with no work behind them.",
        "",
        md_table(
            [
                "target",
                "offered",
                "achieved",
                "p50 ms",
                "p99 ms",
                "max ms",
                "2xx / sent",
                "on the broker",
                "generator CPU",
                "late sends",
            ],
            open_rows,
        ),
        "",
        _overload_note(intake),
        *_sink_section(intake),
    ]


def _sink_section(intake: dict[str, Any]) -> list[str]:
    sink = intake.get("sink")
    if not sink:
        return []
    callback = intake.get("sink_callback") or _level(intake, "receiver", 32)
    rows = [
        [
            "event callback, one event a request",
            1,
            f"{callback['rps']:,.0f}",
            f"{callback['rps']:,.0f}",
            "1.0",
            f"{callback['p50_ms']:.2f}",
            f"{callback['p99_ms']:.2f}",
            f"{callback['queued']} / {callback['requests']}",
        ]
    ] + [
        [
            "Event Streams sink",
            level["batch"],
            f"{level['rps']:,.0f}",
            f"{level['events_per_s']:,.0f}",
            f"{level['events_per_s'] / callback['rps']:.1f}",
            f"{level['p50_ms']:.2f}",
            f"{level['p99_ms']:.2f}",
            f"{level['queued']} / {level['requests'] * level['batch']}",
        ]
        for level in sink
    ]
    return [
        "",
        "### The Event Streams sink beside the callback",
        "",
        "The same receiver and redis-server, the same run, wrk at 32 connections: `reservation.accepted` "
        f"as Event Streams sends it (a CloudEvent of {intake.get('cloudevent_bytes', 0):,} bytes, "
        "`TaskRouter.WDSEvent` with the callback's fields in `data.payload`), in signed JSON batches of "
        "1, 10 and 50 distinct events to `/webhooks/event-streams`; each batch checked whole, then deduped "
        "and queued in one Redis script. A 1 s probe sizes each batch size's bodies so that none repeats. "
        f"{intake.get('rounds', 1) + 1} rounds, each the callback (`/webhooks/taskrouter`, one event a "
        "request, 32 connections) and then every batch size, back to back, so that both intakes meet "
        "the same foreign load; the best round of each counts. *On the broker* counts events (in "
        "flight at the stop included). The ratio is the meaningful figure on a shared machine; the "
        "rates move with the foreign load of the moment (the table of sections above).",
        "",
        md_table(
            [
                "intake",
                "events a request",
                "requests /s",
                "events /s",
                "x callback",
                "p50 ms",
                "p99 ms",
                "on the broker / answered",
            ],
            rows,
        ),
    ]


def _overload_note(intake: dict[str, Any]) -> str:
    receiver = next((r for r in intake["open"] if r["target"] == "receiver"), None)
    if receiver is None:
        return ""
    capacity = max(r["rps"] for r in intake["closed"] if r["target"] == "receiver")
    failed = receiver["sent"] - receiver["answered_2xx"]
    load = receiver["offered_rps"] / capacity
    if load >= 1:
        return (
            f"The receiver's best closed-loop rate here is {capacity:,.0f} events/s, so "
            f"{receiver['offered_rps']:,.0f}/s offered is {load:.1f}x its capacity on this machine: "
            f"the open-loop latency is the length of the backlog, and the {failed:,} requests without a "
            "2xx were connections refused or timed out once gunicorn's listen backlog was full (Twilio "
            "retries those). Every event answered 2xx was on the broker."
        )
    return (
        f"The receiver's best closed-loop rate here is {capacity:,.0f} events/s, so "
        f"{receiver['offered_rps']:,.0f}/s offered is {load:.0%} of its capacity: there is no backlog, "
        "and the tail is the two cores shared by two gunicorn workers, redis-server and the load "
        f"generator ({receiver['generator_cpu_share']:.0%} of a core), where a request that arrives "
        "while both cores are taken waits for one. Two stalls that are not the receiver's work were "
        "found here and removed: a 20 to 40 ms full garbage collection every few thousand requests "
        "in each gunicorn worker (each now freezes its loaded heap out of the collector's full "
        "passes, `webhooks/server.py`) and the same in the load generator (its collector is off "
        "during the run); together they had put the p99 at about 85 ms. "
        f"{failed:,} requests went without a 2xx; every event answered 2xx was on the broker."
    )


PROPOSALS = [
    "## Proposals",
    "",
    "1. **Mirror without reading** (default calls per lifecycle 18 → 14): keep the conversation's "
    "other attributes in the chat's state (read once when tracking starts, refreshed from "
    "`onConversationUpdated`) and write without reading. It widens the window in which another "
    "writer's keys could be overwritten from milliseconds to the time since the last refresh, so "
    "it needs that webhook subscribed first.",
    "2. **The receiver's worker class.** The sync worker closes every connection; behind a load "
    "balancer that keeps connections alive, `gthread` avoids a TCP handshake per event. Measure "
    "it with this benchmark before adopting it (threads share a GIL under overload).",
    "3. **Kombu builds a `redis.Redis` client for every acknowledgement** in the Celery worker "
    "(about a tenth of the worker's main process); a transport subclass would reuse one.",
    "4. **Transfers on workers of their own** (`chat-transfer worker --queues transfers`) or an I/O "
    "pool: a transfer job mostly waits on Twilio, and a burst of transfers should not queue behind "
    "webhook events or the other way round.",
    "5. **The outbox lease after a worker dies mid-drain** is held for its 60 s; a shorter lease "
    "renewed per item would shorten the wait, if it still outlasts the slowest item's calls.",
]
