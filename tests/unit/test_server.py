"""`chat-transfer web`'s gunicorn application: settings, and the heap frozen once the app is loaded."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from tests.support.settings import make_settings
from webhooks.browser_guard import BrowserSlots, Busy, make_slots
from webhooks.server import _Gunicorn, browser_slots, gunicorn_options


def test_gunicorn_runs_sync_workers_on_the_asked_address():
    options = gunicorn_options(make_settings(), "127.0.0.1", 8080, workers=3)
    assert options["bind"] == "127.0.0.1:8080"
    assert options["workers"] == 3
    assert options["worker_class"] == "sync"


def test_loading_the_app_freezes_what_was_loaded_out_of_full_collections():
    gc.unfreeze()
    loaded = object()
    try:
        server = _Gunicorn(gunicorn_options(make_settings(), "127.0.0.1", 0, workers=1), lambda: loaded)
        assert gc.get_freeze_count() == 0
        assert server.load() is loaded
        assert gc.get_freeze_count() > 0  # the app's objects are in the permanent generation
    finally:
        gc.unfreeze()


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_web_command_imports_no_metrics_before_it_shares_them():
    """What `chat-transfer web` imports before `serve()` must leave prometheus_client unimported:
    it picks in-memory counters for good when imported with no PROMETHEUS_MULTIPROC_DIR."""
    result = _python(
        "import sys, ops.cli, webhooks, webhooks.server\n"
        "from webhooks.server import share_metrics_between_workers\n"
        "assert 'prometheus_client' not in sys.modules, 'imported too early'\n"
        "print(share_metrics_between_workers())\n"
        "from prometheus_client import values\n"
        "assert values.ValueClass is not values.MutexValue\n"
    )
    assert result.returncode == 0, result.stderr
    assert os.path.isdir(result.stdout.strip())


def test_serving_refuses_metrics_imported_too_early():
    result = _python(
        "import webhooks.metrics\nfrom webhooks.server import share_metrics_between_workers\n"
        "share_metrics_between_workers()\n"
    )
    assert result.returncode != 0
    assert "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set" in result.stderr


def test_half_the_workers_at_most_serve_browser_requests_unless_configured():
    assert [browser_slots(make_settings(), n) for n in (1, 2, 3, 8)] == [1, 1, 1, 4]
    assert browser_slots(make_settings(browser_concurrency=3), 8) == 3


def test_a_browser_request_finds_no_slot_while_another_process_holds_the_only_one(tmp_path):
    """flock, so a slot is free again when the worker holding it dies (the kernel drops the lock)."""
    slots = BrowserSlots(make_slots(tmp_path, 1))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(tmp_path / 'slot-0')!r}, os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy), slots.hold():
            pass
    finally:
        holder.kill()
        holder.wait()
    with slots.hold(), pytest.raises(Busy), BrowserSlots(str(tmp_path)).hold():
        pass  # this process holds it now; another opening of the files finds none free
    with slots.hold():
        pass
