"""`chat-transfer demo` as a newcomer runs it: no settings, exit 0, the timeline as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_runs_with_no_settings_and_every_rule_holds(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "CELERY_"))}
    out = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--json", str(out)],
        cwd=tmp_path,  # no .env to lean on
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "── Alice joined the chat ──" in result.stdout or "joined the chat ──" in result.stdout
    data = json.loads(out.read_text())
    assert len(data["stories"]) == 4
    checks = [c for story in data["stories"] for c in story["checks"]]
    assert checks and all(c["ok"] for c in checks)
    assert data["violations"] == []
    warm = data["stories"][0]["transcript"]
    kinds = [line["notificationType"] for line in warm if line["notice"]]
    assert kinds == ["joined", "transfer-started", "joined", "left", "left", "chat-ended"]
    assert any(not line["notice"] for line in warm)  # customer and agent lines are not notices

    # Agents leave through the service (POST /tasks/<WT>/leave), as the plugin's Leave chat does.
    assert any("leaves the chat (Leave chat)" in step for step in data["stories"][0]["steps"])
    # And once, an agent uses Flex's own End chat while a transfer waits: closed for everybody.
    ended = data["stories"][3]
    assert "End chat" in ended["title"]
    rules = {c["rule"] for c in ended["checks"]}
    assert "the waiting transfer task is canceled (rule 5)" in rules
    assert "nothing is posted into the closed chat" in rules
