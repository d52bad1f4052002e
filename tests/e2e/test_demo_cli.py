"""`chat-transfer demo` as a newcomer runs it: no settings, exit 0, the timeline as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

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


class _StandInStack:
    """Just enough of a LocalStack for `Demo` when the stories are replaced (nothing starts)."""

    def __init__(self, **_options: object) -> None:
        self.sandbox = SimpleNamespace(violations=[])
        self.setup = SimpleNamespace(workers={}, identities={}, tokens={})

    def __enter__(self) -> _StandInStack:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


@pytest.mark.parametrize("outcome", ["holds", "breaks", "raises"])
def test_the_exit_status_says_whether_every_rule_held(monkeypatch, outcome):
    """`chat-transfer demo` exits 1 when a story's check fails or a story cannot finish, 0 when all hold."""
    from ops import demo
    from ops.cli import main

    def story_that_holds(self: demo.Demo) -> demo.Story:
        story = demo.Story("a story whose rule holds")
        self.check(story, "a rule", True)
        self.stories.append(story)
        return story

    def last_story(self: demo.Demo) -> demo.Story:
        if outcome == "raises":
            raise RuntimeError("the sandbox went away")
        story = demo.Story("the last story")
        self.check(story, "another rule", outcome == "holds", "broken on purpose")
        self.stories.append(story)
        return story

    monkeypatch.setattr(demo, "LocalStack", _StandInStack)
    for name in ("warm_transfer_story", "cold_transfer_story", "unanswered_transfer_story"):
        monkeypatch.setattr(demo.Demo, name, story_that_holds)
    monkeypatch.setattr(demo.Demo, "native_end_chat_story", last_story)
    assert main(["demo"]) == (0 if outcome == "holds" else 1)
