"""Settings for tests: valid sids and a known auth token."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from worker.settings import Settings

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
WORKSPACE_SID = "WS" + "b" * 32
WORKFLOW_SID = "WW" + "c" * 32


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_flex_workspace_sid": WORKSPACE_SID,
        "twilio_flex_chat_transfer_workflow_sid": WORKFLOW_SID,
        "redis_url": "redis://127.0.0.1:6379/15",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def import_worker_tasks(patch: pytest.MonkeyPatch) -> ModuleType:
    """`worker.tasks`, which reads its settings from the environment when first imported: test
    values, with a Redis that is never reached (each test gives the tasks its own deps)."""
    for name, value in {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FLEX_WORKSPACE_SID": WORKSPACE_SID,
        "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID": WORKFLOW_SID,
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }.items():
        patch.setenv(name, value)
    return importlib.import_module("worker.tasks")


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def sandbox_settings(sb: Any, setup: Any, **overrides: Any) -> Settings:
    """Settings for a service talking to the sandbox `sb` seeded with `setup` (`seed_flex`)."""
    return make_settings(
        twilio_account_sid=sb.account_sid,
        twilio_auth_token=sb.auth_token,
        twilio_api_base_url=sb.base_url,
        twilio_flex_workspace_sid=setup.workspace_sid,
        twilio_flex_chat_transfer_workflow_sid=setup.chat_transfer_workflow_sid,
        **overrides,
    )
