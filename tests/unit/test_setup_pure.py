"""The pure parts of `chat-transfer setup`: the .env rewrite and the workflow configuration."""

from __future__ import annotations

import os
import stat

import pytest

from ops.setup_account import SetupError, public_endpoints, run_setup, update_env_text, write_env_file
from worker.domain.transfer_workflow import (
    WorkflowConfigError,
    configuration_diff,
    expression_string,
    transfer_workflow_configuration,
)

WS = "WS" + "1" * 32


K = "TWILIO_FLEX_WORKSPACE_SID"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", f"{K}={WS}\n"),
        ("A=1", f"A=1\n{K}={WS}\n"),
        ("A=1\n", f"A=1\n{K}={WS}\n"),
        (f"{K}=old\nB=2\n", f"{K}={WS}\nB=2\n"),
        (f"  export {K} = old\n", f"  export {K}={WS}\n"),
        (f"# {K}=commented\n", f"# {K}=commented\n{K}={WS}\n"),
        (f"{K}_OTHER=x\r\n", f"{K}_OTHER=x\r\n{K}={WS}\n"),
        (f"{K}=old\r\nB=2\r\n", f"{K}={WS}\r\nB=2\r\n"),
        (f"{K}=a\n{K}=b", f"{K}={WS}\n{K}={WS}"),
    ],
)
def test_env_keys_are_updated_in_place_or_appended_and_nothing_else_moves(before: str, after: str) -> None:
    assert update_env_text(before, {K: WS}) == after


def test_env_values_that_need_quotes_get_them() -> None:
    assert update_env_text("", {"A": 'x y "z"'}) == 'A="x y \\"z\\""\n'
    assert update_env_text("", {"PUBLIC_BASE_URL": "https://a.example.com/p"}) == (
        "PUBLIC_BASE_URL=https://a.example.com/p\n"
    )


def test_env_file_is_written_private_and_keeps_an_existing_mode(tmp_path) -> None:
    path = tmp_path / ".env"
    assert write_env_file(path, {"A": "1"}) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)
    assert write_env_file(path, {"A": "1"}) is False  # unchanged: not rewritten
    assert write_env_file(path, {"A": "2", "B": "3"}) is True
    assert path.read_text() == "A=2\nB=3\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind


def test_the_workflow_has_a_known_worker_rule_then_one_rule_per_queue() -> None:
    config = transfer_workflow_configuration({"Everyone": "WQe", "Sales": "WQs"})
    filters = config["task_routing"]["filters"]
    assert [f["expression"] for f in filters] == [
        "transferTargetType == 'worker'",
        "transferQueueName == 'Everyone'",
        "transferQueueName == 'Sales'",
    ]
    assert filters[0]["targets"] == [{"queue": "WQe", "known_worker_sid": "task.transferTargetSid"}]
    assert filters[2]["targets"] == [
        {"queue": "WQs", "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}
    ]
    assert config["task_routing"]["default_filter"] == {"queue": "WQe"}


def test_target_timeouts_and_an_explicit_everyone_queue() -> None:
    config = transfer_workflow_configuration(
        [("Sales", "WQs")], everyone_queue_sid="WQall", target_timeout=30
    )
    filters = config["task_routing"]["filters"]
    assert all(t["timeout"] == 30 for f in filters for t in f["targets"])
    assert filters[0]["targets"][0]["queue"] == "WQall"


def test_without_an_everyone_queue_there_is_no_workflow() -> None:
    with pytest.raises(WorkflowConfigError, match="Everyone"):
        transfer_workflow_configuration({"Sales": "WQs"})


def test_queue_names_with_quotes_are_quoted_so_the_rule_can_match() -> None:
    assert expression_string("Bob's team") == '"Bob\'s team"'
    assert expression_string("Sales") == "'Sales'"
    with pytest.raises(WorkflowConfigError):
        expression_string("""a'b"c""")


def test_the_diff_ignores_key_order_and_is_empty_when_equal() -> None:
    a = transfer_workflow_configuration({"Everyone": "WQe"})
    reordered = {"task_routing": dict(reversed(list(a["task_routing"].items())))}
    assert configuration_diff(a, reordered) == ""
    created = configuration_diff(None, a)
    assert created.startswith("--- /dev/null\n+++ Chat Transfer (wanted)\n")


@pytest.mark.parametrize(
    "url", ["example.com", "ftp://example.com", "https://", "https://a.example.com/?x=1"]
)
def test_a_public_url_must_be_http_with_a_host(url: str) -> None:
    with pytest.raises(SetupError):
        public_endpoints(url)


def test_public_endpoints() -> None:
    assert public_endpoints("https://a.example.com/base/") == (
        "https://a.example.com/base/webhooks/taskrouter",
        "https://a.example.com/base/webhooks/conversations",
    )


def test_event_streams_and_replace_callback_together_are_refused_before_anything_changes(
    tmp_path, capsys
) -> None:
    """--event-streams leaves the workspace's callback alone; --replace-callback takes it over: asked
    together, setup says so instead of silently ignoring one (exit 2, no .env written)."""
    env_file = tmp_path / ".env"
    status, _ = run_setup(
        env_file=env_file,
        public_url="https://chat-transfer.example.com",
        event_streams=True,
        replace_callback=True,
    )
    assert status == 2
    assert "--replace-callback" in capsys.readouterr().err
    assert not env_file.exists()
