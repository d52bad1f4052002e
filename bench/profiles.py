"""Where the time goes: pyinstrument profiles of the intake path (inside a gunicorn worker of the
receiver, under wrk load) and of transfers (`run_transfer` in this process against the sandbox).

The intake profile is taken by `python -m bench.profiles --serve`: the receiver's own gunicorn
settings (`webhooks.server.serve`), one worker, the app wrapped in a middleware that profiles
requests `WARMUP`…`WARMUP + COUNT` and then writes the profile next to `bench/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.common import REPO, say

OUT_DIR = REPO / "bench" / "profiles"
WARMUP = 300


def _topmost(frame: Any, function: str) -> list[Any]:
    """Every frame of `function` not nested in another frame of it, anywhere in the tree."""
    if frame is None:
        return []
    if frame.function == function:
        return [frame]
    return [found for child in frame.children for found in _topmost(child, function)]


def total_time(root: Any, function: str) -> float:
    return sum(frame.time for frame in _topmost(root, function))


def breakdown(root: Any, outer: str, inner: str) -> dict[str, Any]:
    """What `inner`'s callees cost, as shares of all the time spent in `outer` (the request or job)."""
    total = sum(frame.time for frame in _topmost(root, outer))
    inner_frames = _topmost(root, inner)
    if not total or not inner_frames:
        return {"error": f"{outer} / {inner} not in the profile"}
    shares: dict[str, float] = defaultdict(float)
    for frame in inner_frames:
        for child in frame.children:
            shares[f"{child.function} ({Path(child.file_path_short or '').name})"] += child.time
    return {
        "outer": outer,
        "outer_seconds": total,
        "inner": inner,
        "inner_share": sum(frame.time for frame in inner_frames) / total,
        "children": sorted(
            ((n, t / total) for n, t in shares.items() if t / total >= 0.01), key=lambda x: -x[1]
        ),
    }


# ---- intake: inside a gunicorn worker ---------------------------------------------------------


class ProfilingMiddleware:
    def __init__(self, app: Callable[..., Any], count: int, out: Path) -> None:
        from pyinstrument import Profiler

        self.app, self.count, self.out = app, count, out
        self.seen = 0
        self.profiler = Profiler(interval=0.0005)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.seen += 1
        if self.seen == WARMUP:
            self.profiler.start()
        response = self.app(environ, start_response)
        if self.seen == WARMUP + self.count:
            self.profiler.stop()
            # Saved as is (quick); read and summarised by the bench process, outside any request.
            self.profiler.last_session.save(str(self.out.with_suffix(".pyisession")))
        return response


def _app_share(root: Any) -> dict[str, float]:
    """Shares of the worker's busy time (time outside the idle wait for a connection)."""
    idle = sum(total_time(root, name) for name in ("select", "wait", "sleep"))
    busy = (root.time if root else 0.0) - idle
    names = ("wsgi_app", "receive_signed_event", "is_valid", "form", "redis_message", "queue_once")
    shares = {name: total_time(root, name) / busy if busy else 0.0 for name in names}
    shares["busy_seconds"] = busy
    return shares


def serve_profiled(port: int, count: int, out: Path) -> None:
    from webhooks.app import create_app
    from webhooks.server import serve
    from worker.settings import load_settings_or_exit

    def load() -> Any:
        app = create_app()
        app.wsgi_app = ProfilingMiddleware(app.wsgi_app, count, out)  # type: ignore[method-assign]
        return app

    serve(load_settings_or_exit(), "127.0.0.1", port, workers=1, load_app=load)


def profile_intake(quick: bool) -> dict[str, Any]:
    import redis
    import requests

    from bench.common import service_env
    from bench.intake import PATH, run_wrk, write_bodies
    from ops.embedded_redis import EmbeddedRedis, free_port
    from ops.localstack import ServiceProcess, wait_for

    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / "intake"
    for suffix in (".txt", ".json", ".pyisession"):
        out.with_suffix(suffix).unlink(missing_ok=True)
    count = 1500 if quick else 4000
    with EmbeddedRedis() as server:
        env = service_env(server.url)
        port = free_port()
        args = [sys.executable, "-m", "bench.profiles", "--serve", "--port", str(port)]
        process = ServiceProcess("profiled-receiver", [*args, "--count", str(count), "--out", str(out)], env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 60, 0.05, "profiled receiver")
            bodies = OUT_DIR / "bodies.tmp"
            write_bodies(bodies, f"{base}{PATH}", 0xBEEF, WARMUP + count + 2000)
            deadline = time.monotonic() + 120
            while not out.with_suffix(".pyisession").exists() and time.monotonic() < deadline:
                run_wrk(base, bodies, 8, 3)
            bodies.unlink(missing_ok=True)
        finally:
            process.stop()
            redis.Redis.from_url(server.url).close()
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    session = Session.load(str(out.with_suffix(".pyisession")))
    out.with_suffix(".txt").write_text(ConsoleRenderer(unicode=True, color=False).render(session))
    root = session.root_frame()
    data = {
        "requests": count,
        "breakdown": breakdown(root, "wsgi_app", "receive_signed_event"),
        "worker_busy_shares": _app_share(root),
    }
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    out.with_suffix(".pyisession").unlink(missing_ok=True)
    say(f"profile: intake, {count} requests in one gunicorn worker → {out.with_suffix('.txt')}")
    return data


# ---- a transfer, in this process ---------------------------------------------------------------


def profile_transfers(stack: Any, count: int = 6) -> dict[str, Any]:
    from pyinstrument import Profiler

    from bench.e2e import kinds, settle
    from ops.localstack import wait_for
    from worker.domain.transfer import TransferRecord
    from worker.handlers.deps import build_deps
    from worker.handlers.transfers import run_transfer
    from worker.settings import Settings

    sb, setup = stack.sandbox, stack.setup
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        **{k.lower(): v for k, v in stack.env.items() if k.startswith(("TWILIO_", "REDIS_"))},
    )
    deps = build_deps(settings)
    records = []
    for i in range(count):
        chat = sb.start_chat(f"profiled{i}", first_message="Hi")
        offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
        sb.accept(offer["sid"])
        wait_for(lambda c=chat: "joined" in kinds(stack, c.conversation_sid), 30, what="joined")
        target = next(sid for name, sid in setup.workers.items() if sid != offer["worker_sid"])
        records.append(
            TransferRecord(
                id=uuid.uuid4().hex,
                task_sid=chat.task_sid,
                target_sid=target,
                mode="WARM",
                requested_by=offer["worker_sid"],
                created_at=time.time(),
            )
        )
    settle(stack)
    for record in records:
        deps.transfers.create(record)
    # The first transfer in a process pays one-time costs (the twilio library imports its
    # Conversations and TaskRouter modules on first use, connections open): not profiled.
    run_transfer(records.pop(0).id, deps)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for record in records:
        run_transfer(record.id, deps)
    profiler.stop()
    seconds = time.perf_counter() - started
    settle(stack)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "transfer.txt").write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    root = profiler.last_session.root_frame()
    count = len(records)
    data = {
        "transfers": count,
        "seconds_each": seconds / count,
        "breakdown": breakdown(root, "run_transfer", "_orchestrate"),
        "gateway": _gateway_shares(root),
    }
    (OUT_DIR / "transfer.json").write_text(json.dumps(data, indent=1))
    say(f"profile: {count} transfers in-process, {seconds / count * 1000:.0f} ms each")
    return data


def _gateway_shares(root: Any) -> dict[str, float]:
    """Time inside the Twilio library's HTTP request vs everything else."""
    total = root.time if root else 0.0
    waiting = 0.0

    def walk(frame: Any) -> None:
        nonlocal waiting
        if frame.function == "request" and "http_client" in (frame.file_path_short or ""):
            waiting += frame.time
            return
        for child in frame.children:
            walk(child)

    if root is not None:
        walk(root)
    return {"twilio_http_share": waiting / total if total else 0.0, "sampled_seconds": total}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles")
    parser.add_argument("--serve", action="store_true", help="serve the profiled receiver (internal)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT_DIR / "intake")
    ns = parser.parse_args(argv)
    if ns.serve:
        # as in production with several workers: metrics in multiprocess mode
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cft-bench-metrics-"))
        serve_profiled(ns.port, ns.count, ns.out)


if __name__ == "__main__":
    main()
