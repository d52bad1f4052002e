"""`chat-transfer setup --event-streams --public-url URL` against the sandbox over HTTP: one webhook
sink and one subscription to the handled types at their schema versions, brought up to date on a
second run, planned by `--dry-run`, and the workspace's callback and Conversations webhooks left
as they were. What setup did is read back through the twilio library."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ops.event_streams_setup import DESCRIPTION, SubscriptionPlan, shown, sink_destination, wanted_types
from ops.setup_account import run_setup
from sandbox import Sandbox
from tests.e2e import test_setup_cli
from tests.e2e.test_setup_cli import cli_setup, client
from worker.domain.cloudevents import HANDLED_TYPES

pytestmark = pytest.mark.e2e

PUBLIC = "https://chat-transfer.example.com"
# the sandbox, and its account in this process's environment (test_setup_cli's fixtures)
sb = test_setup_cli.sb
account = test_setup_cli.account


def setup_event_streams(tmp_path: Path, *, dry_run: bool = False, url: str = PUBLIC) -> tuple[int, str]:
    out = io.StringIO()
    status, _ = run_setup(
        env_file=tmp_path / ".env", public_url=url, event_streams=True, dry_run=dry_run, out=out
    )
    return status, out.getvalue()


def subscribed(sb: Sandbox) -> dict[str, dict[str, int]]:
    """Each sink's destination → the types (and versions) its subscriptions carry."""
    events = client(sb).events.v1
    out: dict[str, dict[str, int]] = {}
    for sink in events.sinks.list():
        types = out.setdefault(sink.sink_configuration["destination"], {})
        for sub in events.subscriptions.list(sink_sid=sink.sid):
            types.update(
                {e.type: e.schema_version for e in events.subscriptions(sub.sid).subscribed_events.list()}
            )
    return out


def test_setup_subscribes_the_handled_types_and_leaves_the_callbacks_alone(account, tmp_path):
    sb = account
    flex = sb.seed_flex(
        event_callback_url="https://someone-else.example.com/tr",
        events_filter="task.created",
        conversations_webhook_url="https://someone-else.example.com/conv",
    )
    status, said = setup_event_streams(tmp_path)
    assert status == 0, said
    assert subscribed(sb) == {f"{PUBLIC}/webhooks/event-streams": wanted_types()}
    assert wanted_types()["com.twilio.taskrouter.reservation.accepted"] == 4
    assert wanted_types()["com.twilio.conversations.participant.removed"] == 2
    [sink] = client(sb).events.v1.sinks.list()
    assert (sink.description, sink.status) == (DESCRIPTION, "active")
    assert sink.sink_configuration == {
        "destination": f"{PUBLIC}/webhooks/event-streams",
        "method": "POST",
        "batch_events": True,
    }
    workspace = client(sb).taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert (workspace.event_callback_url, workspace.events_filter) == (
        "https://someone-else.example.com/tr",
        "task.created",
    )
    assert sb.conversations.global_webhooks.post_webhook_url == "https://someone-else.example.com/conv"
    assert "PUBLIC_BASE_URL=https://chat-transfer.example.com" in (tmp_path / ".env").read_text()
    sb.assert_faithful()


def test_a_second_run_changes_nothing_and_a_drifted_subscription_is_brought_back(account, tmp_path):
    sb = account
    sb.seed_flex()
    setup_event_streams(tmp_path)
    posts = len([r for r in sb.requests if r.method in ("POST", "DELETE")])
    status, said = setup_event_streams(tmp_path)
    assert status == 0 and "already sends to" in said and "already carries" in said
    assert len([r for r in sb.requests if r.method in ("POST", "DELETE")]) == posts

    events = client(sb).events.v1
    [sub] = events.subscriptions.list()
    types = events.subscriptions(sub.sid).subscribed_events
    types("com.twilio.taskrouter.task.completed").delete()
    types("com.twilio.taskrouter.task.created").update(schema_version=1)
    types.create(type="com.twilio.taskrouter.worker.created", schema_version=4)
    status, said = setup_event_streams(tmp_path, dry_run=True)
    assert status == 0
    assert "would add com.twilio.taskrouter.task.completed (schema version 4)" in said
    assert "would schema version 4 for com.twilio.taskrouter.task.created" in said
    assert "would remove com.twilio.taskrouter.worker.created" in said
    assert subscribed(sb)[f"{PUBLIC}/webhooks/event-streams"] != wanted_types()  # dry run
    assert setup_event_streams(tmp_path)[0] == 0
    assert subscribed(sb) == {f"{PUBLIC}/webhooks/event-streams": wanted_types()}


def test_dry_run_prints_the_plan_and_creates_nothing(account, tmp_path):
    sb = account
    sb.seed_flex()
    status, said = setup_event_streams(tmp_path, dry_run=True)
    assert status == 0
    assert f"would create webhook sink → {PUBLIC}/webhooks/event-streams" in said
    assert f"would create subscription to {len(HANDLED_TYPES)} event types" in said
    assert client(sb).events.v1.sinks.list() == []


def test_a_new_public_url_gets_a_new_sink_and_the_old_one_is_reported(account, tmp_path):
    sb = account
    sb.seed_flex()
    setup_event_streams(tmp_path, url="https://old.example.com")
    status, said = setup_event_streams(tmp_path)
    assert status == 0
    assert "still sends to https://old.example.com/webhooks/event-streams" in said
    assert set(subscribed(sb)) == {
        "https://old.example.com/webhooks/event-streams",
        f"{PUBLIC}/webhooks/event-streams",
    }


def test_basic_auth_credentials_go_into_the_sink_url_and_are_not_printed(account, tmp_path, monkeypatch):
    sb = account
    sb.seed_flex()
    monkeypatch.setenv("EVENT_STREAMS_BASIC_AUTH", "sink:p@ss/word")
    status, said = setup_event_streams(tmp_path)
    assert status == 0 and "p@ss" not in said and "sink:***@chat-transfer.example.com" in said
    [sink] = client(sb).events.v1.sinks.list()
    assert (
        sink.sink_configuration["destination"]
        == "https://sink:p%40ss%2Fword@chat-transfer.example.com/webhooks/event-streams"
    )


def test_the_command_line(account, tmp_path):
    sb = account
    sb.seed_flex()
    planned = cli_setup(sb, tmp_path, "--event-streams", "--public-url", PUBLIC, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would create webhook sink" in planned.stdout
    missing = cli_setup(sb, tmp_path, "--event-streams")
    assert missing.returncode == 2 and "--event-streams needs --public-url" in missing.stderr
    done = cli_setup(sb, tmp_path, "--event-streams", "--public-url", PUBLIC)
    assert done.returncode == 0, done.stderr
    assert json.dumps(subscribed(sb), sort_keys=True) == json.dumps(
        {f"{PUBLIC}/webhooks/event-streams": wanted_types()}, sort_keys=True
    )


# ---- the pure parts -------------------------------------------------------------------------------


def test_the_plan_between_two_sets_of_types():
    plan = SubscriptionPlan.between({"a": 1, "b": 2, "x": 1}, {"a": 1, "b": 3, "c": 4})
    assert (plan.add, plan.reversion, plan.remove) == ({"c": 4}, {"b": 3}, ["x"])
    assert not SubscriptionPlan.between({"a": 1}, {"a": 1})


def test_destinations():
    assert sink_destination("https://h.example.com/") == "https://h.example.com/webhooks/event-streams"
    assert (
        sink_destination("https://h.example.com", "u:p:q")
        == "https://u:p%3Aq@h.example.com/webhooks/event-streams"
    )
    assert shown("https://u:secret@h.example.com:8443/x") == "https://u:***@h.example.com:8443/x"
    assert shown("https://h.example.com/x") == "https://h.example.com/x"
