"""`chat-transfer setup` against the sandbox over HTTP: the .env it writes, the workflow it finds,
builds and updates, `--dry-run`, and the webhooks `--public-url` points at the service.

What setup did is read back through the twilio library (as an operator would see it in the
console) and checked to work: the workflow it builds routes transfer tasks in the sandbox.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.rest import Client

from ops.setup_account import CONVERSATIONS_EVENTS, TASKROUTER_EVENTS, run_setup
from sandbox import Sandbox
from worker.adapters.http_client import RoutedHttpClient
from worker.domain.transfer_workflow import transfer_workflow_configuration
from worker.settings import Settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def account(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox's credentials in this process's environment (for in-process `run_setup`)."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "PUBLIC_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", sb.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", sb.auth_token)
    monkeypatch.setenv("TWILIO_API_BASE_URL", sb.base_url)
    return sb


def client(sb: Sandbox) -> Client:
    return Client(sb.account_sid, sb.auth_token, http_client=RoutedHttpClient(sb.base_url))


def cli_setup(
    sb: Sandbox, cwd: Path, *args: str, unset: tuple[str, ...] = (), **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m ops.cli setup ARGS` in `cwd`, with the sandbox's account in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PUBLIC_BASE_URL"))}
    env.update(
        TWILIO_API_BASE_URL=sb.base_url,
        TWILIO_ACCOUNT_SID=sb.account_sid,
        TWILIO_AUTH_TOKEN=sb.auth_token,
        PYTHONPATH=str(REPO),
    )
    env.update(extra_env)
    for name in unset:
        env.pop(name)
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "setup", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def env_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.removeprefix("export ").strip()] = value
    return values


def transfer_workflows(sb: Sandbox, workspace_sid: str) -> list:
    listed = client(sb).taskrouter.v1.workspaces(workspace_sid).workflows.list()
    return [w for w in listed if w.friendly_name.startswith("Chat Transfer")]


def posts(sb: Sandbox) -> int:
    return len([r for r in sb.requests if r.method == "POST"])


def bare_flex_workspace(sb: Sandbox) -> tuple[str, dict[str, str]]:
    """A Flex workspace with queues and workers but no Chat Transfer workflow yet."""
    workspace = sb.create_workspace("Flex Task Assignment")
    sb.create_workspace("Another workspace")  # setup must pick Flex's by name
    queues = {
        "Everyone": sb.add_queue("Everyone", "1==1", workspace_sid=workspace),
        "Sales": sb.add_queue("Sales", "routing.skills HAS 'sales'", workspace_sid=workspace),
    }
    for name, skills in (("alice", ["sales", "billing"]), ("bob", ["sales", "billing"]), ("carol", [])):
        sb.add_worker(name, skills=skills, workspace_sid=workspace)
    return workspace, queues


# ---- finding the workflow and writing .env ---------------------------------------------------------


def test_setup_finds_the_workflow_and_writes_env_keeping_other_lines(
    account: Sandbox, tmp_path: Path
) -> None:
    sb = account
    flex = sb.seed_flex(queues={"Sales": "routing.skills HAS 'sales'"})
    env_file = tmp_path / ".env"
    original = [
        "# my settings",
        "REDIS_URL=redis://127.0.0.1:6379/0",
        f"TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID=WW{'0' * 32}",
        "",
        "export CORS_ORIGINS=https://flex.twilio.com",
        "LOG_LEVEL=DEBUG",
    ]
    env_file.write_text("\n".join(original))  # no final newline: setup must not glue lines together

    result = cli_setup(sb, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = env_file.read_text().splitlines()
    # The stale workflow sid is replaced where it was; every other line is as it was.
    workflow_line = f"TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID={flex.chat_transfer_workflow_sid}"
    assert lines[:6] == [*original[:2], workflow_line, *original[3:]]
    assert sorted(lines[6:]) == sorted(
        [
            f"TWILIO_FLEX_WORKSPACE_SID={flex.workspace_sid}",
            f"TWILIO_FLEX_CHAT_SERVICE_SID={flex.chat_service_sid}",
        ]
    )
    assert "was WW0000" in result.stdout  # the replaced sid is reported

    # What setup wrote is what the service needs: its own Settings load from that file.
    settings = Settings(
        _env_file=env_file, twilio_account_sid=sb.account_sid, twilio_auth_token=sb.auth_token
    )
    assert settings.twilio_flex_chat_transfer_workflow_sid == flex.chat_transfer_workflow_sid
    assert settings.twilio_flex_workspace_sid == flex.workspace_sid
    sb.assert_faithful()


def test_setup_without_the_workflow_writes_what_it_found_and_says_how_to_build_it(
    account: Sandbox, tmp_path: Path
) -> None:
    workspace, _ = bare_flex_workspace(account)
    env_file = tmp_path / ".env"
    out = io.StringIO()

    status, report = run_setup(env_file=env_file, out=out)

    assert status == 1
    assert report.workspace_sid == workspace
    values = env_values(env_file)
    assert values["TWILIO_FLEX_WORKSPACE_SID"] == workspace
    assert values["TWILIO_FLEX_CHAT_SERVICE_SID"].startswith("IS")
    assert "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID" not in values
    assert transfer_workflows(account, workspace) == []  # finding never creates
    account.assert_faithful()


def test_setup_needs_only_the_account_and_names_what_is_missing(sb: Sandbox, tmp_path: Path) -> None:
    for blank in ({"unset": ("TWILIO_ACCOUNT_SID",)}, {"TWILIO_ACCOUNT_SID": ""}):
        result = cli_setup(sb, tmp_path, **blank)
        assert result.returncode == 2
        assert result.stderr.strip() == "chat-transfer setup: missing required setting TWILIO_ACCOUNT_SID"
    result = cli_setup(sb, tmp_path, TWILIO_AUTH_TOKEN="")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "chat-transfer setup: missing required setting "
        "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
    )
    assert not (tmp_path / ".env").exists()


def test_setup_with_an_api_key(sb: Sandbox, tmp_path: Path) -> None:
    flex = sb.seed_flex()
    key, secret = sb.add_api_key()
    result = cli_setup(sb, tmp_path, TWILIO_AUTH_TOKEN="", TWILIO_API_KEY=key, TWILIO_API_SECRET=secret)
    assert result.returncode == 0, result.stderr
    assert (
        env_values(tmp_path / ".env")["TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID"]
        == flex.chat_transfer_workflow_sid
    )
    sb.assert_faithful()


# ---- --create-workflow -------------------------------------------------------------------------------


def test_create_workflow_builds_it_from_the_queues_then_updates_it_in_place(
    account: Sandbox, tmp_path: Path
) -> None:
    sb = account
    workspace, queues = bare_flex_workspace(sb)
    env_file = tmp_path / ".env"

    status, report = run_setup(env_file=env_file, create_workflow=True, out=io.StringIO())
    assert (status, report.workflow_action) == (0, "created")
    [workflow] = transfer_workflows(sb, workspace)
    assert (
        workflow.sid == report.workflow_sid == env_values(env_file)["TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID"]
    )
    assert json.loads(workflow.configuration) == transfer_workflow_configuration(queues, target_timeout=120)

    # Run again: nothing to change, and nothing is written to Twilio.
    before = posts(sb)
    status, report = run_setup(env_file=env_file, create_workflow=True, out=io.StringIO())
    assert (status, report.workflow_action, report.workflow_sid) == (0, "up to date", workflow.sid)
    assert posts(sb) == before

    # A queue is added: the same workflow gets its rule; no second workflow appears.
    queues["Billing"] = sb.add_queue("Billing", "routing.skills HAS 'billing'", workspace_sid=workspace)
    status, report = run_setup(env_file=env_file, create_workflow=True, out=io.StringIO())
    assert (status, report.workflow_action, report.workflow_sid) == (0, "updated", workflow.sid)
    [updated] = transfer_workflows(sb, workspace)
    configuration = json.loads(updated.configuration)
    assert configuration == transfer_workflow_configuration(queues, target_timeout=120)
    billing = configuration["task_routing"]["filters"][-1]
    assert billing["expression"] == "transferQueueName == 'Billing'"
    assert billing["targets"] == [
        {
            "queue": queues["Billing"],
            "expression": "worker.contact_uri != task.ignoreWorkerContactUri",
            "timeout": 120,  # TRANSFER_TIMEOUT_SECONDS: a target waits no longer than the task may
        }
    ]
    assert '+        "expression": "transferQueueName == \'Billing\'",' in report.workflow_diff

    # And the workflow routes: a queue transfer skips the transferring agent, a worker transfer
    # reaches exactly that worker.
    tasks = client(sb).taskrouter.v1.workspaces(workspace).tasks
    alice, bob, carol = (sb.worker_sid(n) for n in ("alice", "bob", "carol"))
    to_queue = tasks.create(
        workflow_sid=workflow.sid,
        task_channel="chat",
        attributes=json.dumps(
            {
                "transferTargetType": "queue",
                "transferQueueName": "Billing",
                "ignoreWorkerContactUri": "client:alice",
            }
        ),
    )
    assert sb.pending_reservation(task_sid=to_queue.sid)["worker_sid"] == bob
    assert sb.task(to_queue.sid)["task_queue_sid"] == queues["Billing"]
    to_worker = tasks.create(
        workflow_sid=workflow.sid,
        task_channel="chat",
        attributes=json.dumps({"transferTargetType": "worker", "transferTargetSid": carol}),
    )
    assert sb.pending_reservation(task_sid=to_worker.sid)["worker_sid"] == carol
    assert alice not in {r["worker_sid"] for r in sb.reservations(task_sid=to_queue.sid)}
    sb.assert_faithful()


def test_create_workflow_on_a_seeded_account_finds_the_same_workflow_up_to_date(
    sb: Sandbox, tmp_path: Path
) -> None:
    """The sandbox's seed builds the workflow the seed describes; setup's builder agrees with it."""
    flex = sb.seed_flex(
        queues={"Sales": "routing.skills HAS 'sales'", "Support": "1==1"}, transfer_target_timeout=120
    )
    result = cli_setup(sb, tmp_path, "--create-workflow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"workflow 'Chat Transfer': up to date {flex.chat_transfer_workflow_sid}" in result.stdout
    sb.assert_faithful()


def test_dry_run_prints_the_diff_and_changes_nothing(sb: Sandbox, tmp_path: Path) -> None:
    flex = sb.seed_flex(queues={"Sales": "routing.skills HAS 'sales'"}, transfer_target_timeout=120)
    billing = sb.add_queue("Billing")
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_URL=redis://127.0.0.1:6379/0\n")
    configuration_before = transfer_workflows(sb, flex.workspace_sid)[0].configuration
    before = posts(sb)

    result = cli_setup(
        sb, tmp_path, "--create-workflow", "--dry-run", "--public-url", "https://cft.example.com"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert posts(sb) == before  # not one write to Twilio
    assert env_file.read_text() == "REDIS_URL=redis://127.0.0.1:6379/0\n"
    assert transfer_workflows(sb, flex.workspace_sid)[0].configuration == configuration_before
    out = result.stdout
    assert "--- Chat Transfer (current)\n+++ Chat Transfer (wanted)\n@@ " in out
    added = [line for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert '+        "expression": "transferQueueName == \'Billing\'",' in added
    assert f'+            "queue": "{billing}",' in added
    assert '+            "timeout": 120' in added
    assert not [line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert "would update" in out and "workspace event callback: would change" in out
    assert f"TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID={flex.chat_transfer_workflow_sid}" in out
    workspace = client(sb).taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert workspace.event_callback_url is None
    sb.assert_faithful()


def test_dry_run_without_a_workflow_shows_the_whole_configuration(account: Sandbox, tmp_path: Path) -> None:
    workspace, _ = bare_flex_workspace(account)
    status, report = run_setup(
        env_file=tmp_path / ".env", create_workflow=True, dry_run=True, out=io.StringIO()
    )
    assert (status, report.workflow_action, report.workflow_sid) == (0, "would create", None)
    assert report.workflow_diff.startswith("--- /dev/null\n+++ Chat Transfer (wanted)\n")
    assert transfer_workflows(account, workspace) == []
    assert not (tmp_path / ".env").exists()
    account.assert_faithful()


# ---- --public-url ------------------------------------------------------------------------------------


def _closed_port_url() -> str:
    from ops.embedded_redis import free_port

    return f"http://127.0.0.1:{free_port()}/svc/"


def test_public_url_points_both_webhooks_at_the_service(sb: Sandbox, tmp_path: Path) -> None:
    flex = sb.seed_flex(workers=[{"name": "alice"}])
    public = _closed_port_url()  # nothing listens: deliveries are recorded, not answered
    base = public.rstrip("/")

    result = cli_setup(sb, tmp_path, "--public-url", public)

    assert result.returncode == 0, result.stdout + result.stderr
    api = client(sb)
    workspace = api.taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert workspace.event_callback_url == f"{base}/webhooks/taskrouter"
    assert workspace.events_filter.split(",") == list(TASKROUTER_EVENTS)
    hook = api.conversations.v1.services(flex.chat_service_sid).configuration.webhooks().fetch()
    assert (hook.post_webhook_url, hook.method) == (f"{base}/webhooks/conversations", "POST")
    assert sorted(hook.filters) == sorted(CONVERSATIONS_EVENTS)
    assert env_values(tmp_path / ".env")["PUBLIC_BASE_URL"] == base

    # Twilio now calls the service there, with only the events it handles.
    chat = sb.start_chat("Maria")
    sb.accept_task(chat.task_sid)
    sb.agent_leave(chat.task_sid)  # the agent leaves: task to wrap-up, agent out of the chat
    sb.complete(chat.task_sid)
    sb.wait_idle()
    taskrouter = sb.deliveries(kind="taskrouter")
    conversations = sb.deliveries(kind="conversations")
    assert {d.url for d in taskrouter} == {f"{base}/webhooks/taskrouter"}
    assert {d.event_type for d in taskrouter} == {
        "task.created", "reservation.created", "reservation.accepted", "task.wrapup", "task.completed"
    }  # fmt: skip
    assert {d.url for d in conversations} == {f"{base}/webhooks/conversations"}
    assert {d.event_type for d in conversations} == {"onParticipantAdded", "onParticipantRemoved"}

    # Once set, a second run changes nothing.
    before = posts(sb)
    again = cli_setup(sb, tmp_path, "--public-url", public)
    assert again.returncode == 0 and "already" in again.stdout
    assert posts(sb) == before
    sb.assert_faithful()


def test_public_url_account_wide_conversations_webhook(account: Sandbox, tmp_path: Path) -> None:
    sb = account
    sb.seed_flex()
    status, _ = run_setup(
        env_file=tmp_path / ".env",
        public_url="https://cft.example.com",
        conversations_scope="global",
        out=io.StringIO(),
    )
    assert status == 0
    hook = client(sb).conversations.v1.configuration.webhooks().fetch()
    assert (hook.post_webhook_url, hook.target, hook.method) == (
        "https://cft.example.com/webhooks/conversations",
        "webhook",
        "POST",
    )
    assert sorted(hook.filters) == sorted(CONVERSATIONS_EVENTS)
    sb.assert_faithful()


def test_a_bad_public_url_stops_setup_before_anything_changes(sb: Sandbox, tmp_path: Path) -> None:
    sb.seed_flex()
    result = cli_setup(sb, tmp_path, "--public-url", "cft.example.com")
    assert result.returncode == 2
    assert "--public-url must be an http(s) URL" in result.stderr
    assert not sb.requests
    assert not (tmp_path / ".env").exists()


# ---- shared configuration: setup never removes what others configured (issue 15) ---------------

FOREIGN_TASKROUTER = "https://wfm.example.com/taskrouter-events"
FOREIGN_EVENTS = "task.created,worker.activity.update,task-queue.entered"
FOREIGN_CONVERSATIONS = "https://bot.example.com/conversations"
FOREIGN_PRE = "https://moderation.example.com/pre"
FOREIGN_FILTERS = ["onMessageAdded", "onMessageAdd", "onConversationAdded"]


def shared_account(sb: Sandbox) -> tuple[str, str]:
    """An account on which other tools already listen: a workforce-management callback with its
    own events, and a bot's post-event plus a moderation pre-event webhook with their filters."""
    flex = sb.seed_flex(
        workers=[{"name": "alice"}], event_callback_url=FOREIGN_TASKROUTER, events_filter=FOREIGN_EVENTS
    )
    config = client(sb).conversations.v1.services(flex.chat_service_sid).configuration.webhooks()
    config.update(
        post_webhook_url=FOREIGN_CONVERSATIONS,
        pre_webhook_url=FOREIGN_PRE,
        filters=FOREIGN_FILTERS,
        method="POST",
    )
    return flex.workspace_sid, flex.chat_service_sid


def test_setup_twice_on_a_shared_account_loses_nothing_of_theirs(sb: Sandbox, tmp_path: Path) -> None:
    workspace_sid, service_sid = shared_account(sb)
    api = client(sb)
    ours = "https://cft.example.com"

    # Without --replace-callback: refused, naming what is there, and nothing changes.
    before = posts(sb)
    refused = cli_setup(sb, tmp_path, "--public-url", ours)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert FOREIGN_TASKROUTER in refused.stderr and "--replace-callback" in refused.stderr
    assert posts(sb) == before
    assert api.taskrouter.v1.workspaces(workspace_sid).fetch().event_callback_url == FOREIGN_TASKROUTER

    # --dry-run --replace-callback prints the exact change and makes none.
    dry = cli_setup(sb, tmp_path, "--public-url", ours, "--replace-callback", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert posts(sb) == before
    assert f"EventCallbackUrl: {FOREIGN_TASKROUTER} → {ours}/webhooks/taskrouter" in dry.stdout
    merged_events = FOREIGN_EVENTS.split(",") + [e for e in TASKROUTER_EVENTS if e not in FOREIGN_EVENTS]
    assert f"EventsFilter: {FOREIGN_EVENTS} → {','.join(merged_events)}" in dry.stdout
    assert f"PostWebhookUrl: {FOREIGN_CONVERSATIONS} → {ours}/webhooks/conversations" in dry.stdout

    # With --replace-callback, twice: what it replaces is printed; their filters and pre-event
    # webhook stay; the second run changes nothing.
    for run in range(2):
        done = cli_setup(sb, tmp_path, "--public-url", ours, "--replace-callback")
        assert done.returncode == 0, done.stdout + done.stderr
        workspace = api.taskrouter.v1.workspaces(workspace_sid).fetch()
        assert workspace.event_callback_url == f"{ours}/webhooks/taskrouter"
        assert workspace.events_filter.split(",") == merged_events
        assert "task.system-deleted" in workspace.events_filter.split(",")
        hook = api.conversations.v1.services(service_sid).configuration.webhooks().fetch()
        assert hook.pre_webhook_url == FOREIGN_PRE
        assert hook.post_webhook_url == f"{ours}/webhooks/conversations"
        assert hook.filters == FOREIGN_FILTERS + [e for e in CONVERSATIONS_EVENTS if e not in FOREIGN_FILTERS]
        if run == 0:
            assert f"replacing {FOREIGN_TASKROUTER}" in done.stdout
            assert f"replacing {FOREIGN_CONVERSATIONS}" in done.stdout
            after_first = posts(sb)
        else:
            assert "replacing" not in done.stdout and "already" in done.stdout
            assert posts(sb) == after_first
    sb.assert_faithful()


def test_setup_keeps_a_foreign_filter_when_the_callback_is_already_ours(sb: Sandbox, tmp_path: Path) -> None:
    """Someone added events to our own callback's filter (or the URL was ours with every event):
    setup adds what it needs and takes nothing away."""
    ours = "https://cft.example.com"
    flex = sb.seed_flex(
        event_callback_url=f"{ours}/webhooks/taskrouter", events_filter="worker.activity.update"
    )
    result = cli_setup(sb, tmp_path, "--public-url", ours)
    assert result.returncode == 0, result.stdout + result.stderr
    workspace = client(sb).taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert workspace.events_filter.split(",") == ["worker.activity.update", *TASKROUTER_EVENTS]
    sb.assert_faithful()
