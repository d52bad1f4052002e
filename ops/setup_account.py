"""`chat-transfer setup`: from a Twilio account (or the sandbox) to a working `.env`.

Finds the Flex workspace, the "Chat Transfer" workflow and the Conversations service, and writes
their sids into `.env` as the Flex template's `npm run generate-env` does: other lines stay as they
are, keys already there are updated in place. `--create-workflow` builds (or brings up to date)
the workflow from the live queue list; `--public-url URL` points the workspace's event callback
and the Conversations post-event webhook at the service, merging their event filters with what is
there and refusing to take over a callback someone else set unless `--replace-callback` is given,
or, with `--event-streams`, subscribes the service to Event Streams instead
(ops/event_streams_setup.py); `--dry-run` changes nothing and prints the exact change.

Needs only `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` (or `TWILIO_API_KEY` and
`TWILIO_API_SECRET`), from the environment or the `.env` file: it runs before the workflow sid
exists, so it reads its own small settings rather than the service's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ops.event_streams_setup import EventStreamsSetup
from ops.shared_config import ForeignCallback, Plan, plan_conversations_webhook, plan_workspace_callback
from worker.adapters.http_client import RoutedHttpClient, TwilioTransient
from worker.domain.cloudevents import HANDLED_TYPES
from worker.domain.transfer_workflow import (
    EVERYONE_QUEUE,
    WORKFLOW_NAME,
    WorkflowConfigError,
    configuration_diff,
    transfer_workflow_configuration,
)
from worker.settings import _sid_pattern, describe_validation_error

T = TypeVar("T")

FLEX_WORKSPACE_NAME = "Flex Task Assignment"
FLEX_CHAT_SERVICE_NAME = "Flex Chat Service"
TASKROUTER_PATH = "/webhooks/taskrouter"
CONVERSATIONS_PATH = "/webhooks/conversations"
# What the service acts on (worker/handlers/tracking.py), by the callback's names: the same list
# `--event-streams` subscribes to. TaskRouter and Conversations send nothing else once a filter is set.
TASKROUTER_EVENTS = tuple(h.event_type for h in HANDLED_TYPES.values() if h.taskrouter)
CONVERSATIONS_EVENTS = tuple(h.event_type for h in HANDLED_TYPES.values() if not h.taskrouter)

ENV_WORKSPACE = "TWILIO_FLEX_WORKSPACE_SID"
ENV_WORKFLOW = "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID"
ENV_CHAT_SERVICE = "TWILIO_FLEX_CHAT_SERVICE_SID"
ENV_PUBLIC_URL = "PUBLIC_BASE_URL"


class SetupError(RuntimeError):
    """Setup cannot go on; the message says why, in one line."""


class SetupSettings(BaseSettings):
    """What setup needs: the account's credentials; the sids it looks for are optional here."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    twilio_account_sid: str = Field(pattern=_sid_pattern("AC"))
    twilio_auth_token: SecretStr | None = None
    twilio_api_key: str | None = Field(default=None, pattern=_sid_pattern("SK"))
    twilio_api_secret: SecretStr | None = None
    twilio_flex_workspace_sid: str | None = Field(default=None, pattern=_sid_pattern("WS"))
    twilio_flex_chat_service_sid: str | None = Field(default=None, pattern=_sid_pattern("IS"))
    twilio_flex_chat_transfer_workflow_sid: str | None = None
    twilio_api_base_url: str | None = None
    twilio_http_timeout_seconds: float = Field(default=10.0, gt=0)
    # The service's TRANSFER_TIMEOUT_SECONDS: each target of the workflow waits as long as a
    # transfer task may (the task's own Timeout is the same), not until TaskRouter's default day.
    transfer_timeout_seconds: int = Field(default=120, gt=0, le=14 * 24 * 3600)
    event_streams_basic_auth: SecretStr | None = None  # user:password the sink URL carries

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: object) -> object:
        """`NAME=` in .env or the environment counts as not set (so a blank account sid is missing)."""
        if isinstance(values, dict):
            return {key: value for key, value in values.items() if value != ""}
        return values

    @model_validator(mode="after")
    def _some_credentials(self) -> SetupSettings:
        if not self.twilio_auth_token and not (self.twilio_api_key and self.twilio_api_secret):
            raise ValueError("TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)")
        return self

    @property
    def rest_credentials(self) -> tuple[str, str]:
        if self.twilio_api_key and self.twilio_api_secret:
            return self.twilio_api_key, self.twilio_api_secret.get_secret_value()
        assert self.twilio_auth_token is not None
        return self.twilio_account_sid, self.twilio_auth_token.get_secret_value()


def load_setup_settings(env_file: Path) -> SetupSettings:
    try:
        return SetupSettings(_env_file=env_file if env_file.exists() else None)  # type: ignore[call-arg]
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"]:  # the model-level check: no credentials at all
            message = str(first["msg"]).removeprefix("Value error, ")
            raise SetupError(f"missing required setting {message}") from None
        raise SetupError(describe_validation_error(error)) from None


# ---- .env ----------------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


def _env_value(value: str) -> str:
    if _PLAIN_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_env_text(text: str, values: Mapping[str, str]) -> str:
    """`text` (a .env file) with each key of `values` set: in place where the key already is
    (every occurrence, keeping an `export ` prefix), appended at the end otherwise. Every other
    line — comments, blanks, other keys — is kept byte for byte."""
    lines = text.splitlines(keepends=True)
    done: set[str] = set()
    for i, line in enumerate(lines):
        match = _ENV_LINE.match(line)
        if match and match["key"] in values:
            key = match["key"]
            ending = line[len(line.rstrip("\r\n")) :]
            lines[i] = f"{match['lead']}{key}={_env_value(values[key])}{ending}"
            done.add(key)
    missing = [key for key in values if key not in done]
    if missing and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines += [f"{key}={_env_value(values[key])}\n" for key in missing]
    return "".join(lines)


def write_env_file(path: Path, values: Mapping[str, str]) -> bool:
    """Apply `values` to the .env at `path` (created 0600 if absent), atomically; False if unchanged."""
    old = path.read_text(encoding="utf-8") if path.exists() else None
    new = update_env_text(old or "", values)
    if new == old:
        return False
    mode = (path.stat().st_mode & 0o777) if old is not None else 0o600
    handle, temporary = tempfile.mkstemp(prefix=".env.", dir=path.parent or Path("."))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(new)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


# ---- the account ---------------------------------------------------------------------------------


def public_endpoints(public_url: str) -> tuple[str, str]:
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SetupError(f"--public-url must be an http(s) URL with a host and no query: {public_url!r}")
    base = public_url.rstrip("/")
    return base + TASKROUTER_PATH, base + CONVERSATIONS_PATH


@dataclass
class Report:
    """What setup found and did, for the summary and the tests."""

    workspace_sid: str = ""
    workflow_sid: str | None = None
    workflow_action: str = ""  # found | created | updated | up to date | would create | would update
    workflow_diff: str = ""
    chat_service_sid: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    webhooks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class AccountSetup:
    """Every call goes through the official twilio library over the service's routed HTTP client."""

    attempts = 4

    def __init__(self, settings: SetupSettings, out: TextIO = sys.stdout) -> None:
        username, password = settings.rest_credentials
        self.settings = settings
        self.out = out
        self.client = Client(
            username,
            password,
            account_sid=settings.twilio_account_sid,
            http_client=RoutedHttpClient(settings.twilio_api_base_url, settings.twilio_http_timeout_seconds),
        )

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def call(self, what: str, request: Callable[[], T]) -> T:
        """One Twilio request: 429/5xx retried with backoff, any other error a `SetupError`."""
        for attempt in range(self.attempts):
            try:
                return request()
            except TwilioTransient as error:
                if attempt == self.attempts - 1:
                    raise SetupError(f"{what}: {error}") from error
                time.sleep(error.retry_after if error.retry_after is not None else 0.5 * 2**attempt)
            except TwilioRestException as error:
                message = f"{what}: Twilio answered {error.status} (code {error.code}): {error.msg}"
                raise SetupError(message) from error
            except TwilioException as error:  # paging errors carry the response
                response = error.args[1] if len(error.args) > 1 else None
                raise SetupError(f"{what}: {getattr(response, 'text', error)}") from error
        raise AssertionError("unreachable")

    # ---- finding things ----------------------------------------------------------------------

    def workspace(self) -> tuple[str, str]:
        """The Flex workspace: the configured one, else "Flex Task Assignment", else the only one."""
        taskrouter = self.client.taskrouter.v1
        configured = self.settings.twilio_flex_workspace_sid
        if configured:
            ws = self.call(f"fetch workspace {configured}", taskrouter.workspaces(configured).fetch)
            return ws.sid, ws.friendly_name
        spaces = self.call("list workspaces", lambda: taskrouter.workspaces.list(limit=200))
        flex = [w for w in spaces if w.friendly_name == FLEX_WORKSPACE_NAME]
        if len(flex) == 1 or len(spaces) == 1:
            chosen = (flex or spaces)[0]
            return chosen.sid, chosen.friendly_name
        names = ", ".join(f"{w.friendly_name} ({w.sid})" for w in spaces) or "none"
        raise SetupError(f"cannot tell which workspace is Flex's (workspaces: {names}); set {ENV_WORKSPACE}")

    def queues(self, workspace_sid: str) -> list[tuple[str, str]]:
        queues = self.client.taskrouter.v1.workspaces(workspace_sid).task_queues
        found = self.call("list task queues", lambda: queues.list(limit=1000))
        return [(q.friendly_name, q.sid) for q in found]

    def transfer_workflows(self, workspace_sid: str) -> list[Any]:
        """Workflows whose friendly name begins with "Chat Transfer", the exact name first."""
        workflows = self.client.taskrouter.v1.workspaces(workspace_sid).workflows
        found = self.call("list workflows", lambda: workflows.list(limit=1000))
        matching = [w for w in found if (w.friendly_name or "").startswith(WORKFLOW_NAME)]
        return sorted(matching, key=lambda w: w.friendly_name != WORKFLOW_NAME)

    def chat_service(self) -> str | None:
        """The Conversations service Flex chats live in: the configured one, else the one named
        "Flex Chat Service", else the account's default Conversations service."""
        if self.settings.twilio_flex_chat_service_sid:
            return self.settings.twilio_flex_chat_service_sid
        conversations = self.client.conversations.v1
        services = self.call("list Conversations services", lambda: conversations.services.list(limit=200))
        named = [s.sid for s in services if s.friendly_name == FLEX_CHAT_SERVICE_NAME]
        if len(named) == 1:
            return named[0]
        configuration = self.call("fetch Conversations configuration", conversations.configuration().fetch)
        return configuration.default_chat_service_sid

    # ---- changing things ---------------------------------------------------------------------

    def ensure_workflow(self, workspace_sid: str, report: Report, *, dry_run: bool) -> None:
        queues = self.queues(workspace_sid)
        try:
            wanted = transfer_workflow_configuration(
                queues, target_timeout=self.settings.transfer_timeout_seconds
            )
        except WorkflowConfigError as error:
            raise SetupError(str(error)) from error
        names = ", ".join(name for name, _ in queues)
        self.say(f"queues in the workspace: {names}")
        if not any(name == EVERYONE_QUEUE for name, _ in queues):
            report.warnings.append(f"no {EVERYONE_QUEUE!r} queue")
        existing = self.transfer_workflows(workspace_sid)
        workflows = self.client.taskrouter.v1.workspaces(workspace_sid).workflows
        if not existing:
            report.workflow_diff = configuration_diff(None, wanted)
            if dry_run:
                report.workflow_action = "would create"
                return
            created = self.call(
                f"create workflow {WORKFLOW_NAME!r}",
                lambda: workflows.create(friendly_name=WORKFLOW_NAME, configuration=json.dumps(wanted)),
            )
            report.workflow_sid, report.workflow_action = created.sid, "created"
            return
        workflow = existing[0]
        report.workflow_sid = workflow.sid
        try:
            current = json.loads(workflow.configuration or "{}")
        except ValueError:
            current = {"unparseable configuration": workflow.configuration}
        report.workflow_diff = configuration_diff(current, wanted, name=workflow.friendly_name)
        if not report.workflow_diff:
            report.workflow_action = "up to date"
        elif dry_run:
            report.workflow_action = "would update"
        else:
            self.call(
                f"update workflow {workflow.sid}",
                lambda: workflows(workflow.sid).update(configuration=json.dumps(wanted)),
            )
            report.workflow_action = "updated"

    def find_workflow(self, workspace_sid: str, report: Report) -> None:
        existing = self.transfer_workflows(workspace_sid)
        if existing:
            report.workflow_sid, report.workflow_action = existing[0].sid, "found"

    def point_webhooks(
        self,
        workspace_sid: str,
        chat_service_sid: str | None,
        public_url: str,
        report: Report,
        *,
        scope: str,
        dry_run: bool,
        replace_callback: bool = False,
    ) -> None:
        """Point both callbacks at the service, taking nothing away from whoever shares them
        (`ops.shared_config`): both plans are made before either is applied, so a refusal
        changes nothing."""
        taskrouter_url, conversations_url = public_endpoints(public_url)
        workspace = self.client.taskrouter.v1.workspaces(workspace_sid)
        current = self.call("fetch workspace", workspace.fetch)
        conversations = self.client.conversations.v1
        if scope == "service" and chat_service_sid:
            config = conversations.services(chat_service_sid).configuration.webhooks()
            where = f"Conversations service {chat_service_sid} post-event webhook"
        else:
            config = conversations.configuration.webhooks()
            where = "Conversations post-event webhook (account-wide)"
        now = self.call(f"fetch {where}", config.fetch)
        try:
            plans = [
                (
                    plan_workspace_callback(
                        current.event_callback_url,
                        current.events_filter,
                        taskrouter_url,
                        TASKROUTER_EVENTS,
                        replace=replace_callback,
                    ),
                    workspace.update,
                ),
                (
                    plan_conversations_webhook(
                        where,
                        current_url=now.post_webhook_url,
                        current_filters=list(now.filters or []),
                        current_method=now.method,
                        pre_url=now.pre_webhook_url,
                        current_target=getattr(now, "target", None),
                        url=conversations_url,
                        events=CONVERSATIONS_EVENTS,
                        replace=replace_callback,
                    ),
                    config.update,
                ),
            ]
        except ForeignCallback as error:
            raise SetupError(str(error)) from None
        for plan, update in plans:
            self._apply(report, plan, update, dry_run=dry_run)

    def _apply(self, report: Report, plan: Plan, update: Callable[..., object], *, dry_run: bool) -> None:
        if not plan.changes:
            report.webhooks.append(f"{plan.where}: already set")
            return
        if plan.replaces:
            report.webhooks.append(f"{plan.where}: replacing {plan.replaces}")
        if dry_run:
            report.webhooks.append(f"{plan.where}: would change")
        else:
            self.call(f"update {plan.where}", lambda: update(**plan.update))
            report.webhooks.append(f"{plan.where}: changed")
        report.webhooks.extend(plan.lines())


def run_setup(
    *,
    env_file: str | os.PathLike[str] = ".env",
    create_workflow: bool = False,
    dry_run: bool = False,
    public_url: str | None = None,
    conversations_scope: str = "service",
    event_streams: bool = False,
    replace_callback: bool = False,
    out: TextIO = sys.stdout,
) -> tuple[int, Report]:
    """Run setup; returns the exit status and what was found and done."""
    path = Path(env_file)
    report = Report()
    try:
        if event_streams and not public_url:
            raise SetupError("--event-streams needs --public-url URL (where Event Streams sends events)")
        if event_streams and replace_callback:
            raise SetupError(
                "--event-streams leaves the workspace's event callback alone and --replace-callback takes "
                "it over: choose one"
            )
        if public_url:
            public_endpoints(public_url)  # a bad URL stops setup before anything changes
        settings = load_setup_settings(path)
        setup = AccountSetup(settings, out)
        report.workspace_sid, workspace_name = setup.workspace()
        setup.say(f"workspace: {workspace_name} ({report.workspace_sid})")
        report.chat_service_sid = setup.chat_service()
        setup.say(f"Conversations service: {report.chat_service_sid or '(default URLs)'}")
        if create_workflow:
            setup.ensure_workflow(report.workspace_sid, report, dry_run=dry_run)
        else:
            setup.find_workflow(report.workspace_sid, report)
        if report.workflow_sid or report.workflow_action:
            setup.say(
                f"workflow {WORKFLOW_NAME!r}: {report.workflow_action} {report.workflow_sid or ''}".rstrip()
            )
        if report.workflow_diff and (dry_run or report.workflow_action in ("created", "updated")):
            setup.say(report.workflow_diff.rstrip("\n"))
        if public_url and event_streams:
            credentials = settings.event_streams_basic_auth
            report.webhooks += EventStreamsSetup(setup).ensure(
                public_url, credentials.get_secret_value() if credentials else None, dry_run=dry_run
            )
        elif public_url:
            setup.point_webhooks(
                report.workspace_sid,
                report.chat_service_sid,
                public_url,
                report,
                scope=conversations_scope,
                dry_run=dry_run,
                replace_callback=replace_callback,
            )
        for line in report.webhooks:
            setup.say(line)
    except SetupError as error:
        print(f"chat-transfer setup: {error}", file=sys.stderr)
        return 2, report

    report.env[ENV_WORKSPACE] = report.workspace_sid
    if report.workflow_sid:
        report.env[ENV_WORKFLOW] = report.workflow_sid
    if report.chat_service_sid:
        report.env[ENV_CHAT_SERVICE] = report.chat_service_sid
    if public_url:
        report.env[ENV_PUBLIC_URL] = public_url.rstrip("/")
    previous = settings.twilio_flex_chat_transfer_workflow_sid
    if report.workflow_sid and previous and previous != report.workflow_sid:
        report.warnings.append(f"{ENV_WORKFLOW} was {previous}; now {report.workflow_sid}")
    if dry_run:
        setup.say(f"dry run: nothing changed; {path} would get:")
        for key, value in report.env.items():
            setup.say(f"  {key}={value}")
    else:
        changed = write_env_file(path, report.env)
        setup.say(f"{path}: {'updated' if changed else 'already up to date'}")
        for key, value in report.env.items():
            setup.say(f"  {key}={value}")
    for warning in report.warnings:
        setup.say(f"warning: {warning}")
    if not report.workflow_sid and not (dry_run and report.workflow_action == "would create"):
        print(
            f"chat-transfer setup: no workflow whose name begins with {WORKFLOW_NAME!r} in "
            f"{report.workspace_sid}; `chat-transfer setup --create-workflow` builds it",
            file=sys.stderr,
        )
        return 1, report
    return 0, report


def main(ns: argparse.Namespace) -> int:
    status, _ = run_setup(
        env_file=ns.env_file,
        create_workflow=ns.create_workflow,
        dry_run=ns.dry_run,
        public_url=ns.public_url,
        conversations_scope=ns.conversations_webhook,
        event_streams=ns.event_streams,
        replace_callback=ns.replace_callback,
    )
    return status
