"""Settings read once and validated at start; Twilio URLs routed to TWILIO_API_BASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.settings import make_settings
from worker.adapters.http_client import _retry_after, rewrite_twilio_url
from worker.settings import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://taskrouter.twilio.com/v1/Workspaces/WS1/Tasks",
            "http://127.0.0.1:9/taskrouter/v1/Workspaces/WS1/Tasks",
        ),
        (
            "https://conversations.twilio.com/v1/Conversations?PageSize=5",
            "http://127.0.0.1:9/conversations/v1/Conversations?PageSize=5",
        ),
        ("https://flex-api.twilio.com/v1/Interactions", "http://127.0.0.1:9/flex-api/v1/Interactions"),
        (
            "https://iam.twilio.com/v1/Accounts/AC1/Tokens/validate",
            "http://127.0.0.1:9/iam/v1/Accounts/AC1/Tokens/validate",
        ),
        (
            "https://taskrouter.dublin.ie1.twilio.com/v1/Workspaces",
            "http://127.0.0.1:9/taskrouter/v1/Workspaces",
        ),
        ("https://example.com/not-twilio", "https://example.com/not-twilio"),
    ],
)
def test_every_twilio_host_maps_to_the_base_url(url, expected):
    assert rewrite_twilio_url(url, "http://127.0.0.1:9/") == expected


def test_without_a_base_url_nothing_is_rewritten():
    assert (
        rewrite_twilio_url("https://taskrouter.twilio.com/v1/X", None) == "https://taskrouter.twilio.com/v1/X"
    )


def test_retry_after_is_read_whatever_the_header_case():
    assert _retry_after({"Retry-After": "3"}) == 3.0
    assert _retry_after({"retry-after": "0.5"}) == 0.5
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after(None) is None


def test_settings_validate_sids_and_default_the_broker_to_redis():
    settings = make_settings(redis_url="redis://r:6379/1")
    assert settings.broker_url == "redis://r:6379/1"
    assert make_settings(celery_broker_url="amqp://guest@q//").broker_url == "amqp://guest@q//"
    assert settings.rest_credentials[0].startswith("AC")
    keyed = make_settings(twilio_api_key="SK" + "1" * 32, twilio_api_secret="s3cret")
    assert keyed.rest_credentials == ("SK" + "1" * 32, "s3cret")
    with pytest.raises(ValueError):
        make_settings(twilio_flex_workspace_sid="WW" + "0" * 32)


def test_a_dotenv_file_is_honoured(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "TWILIO_ACCOUNT_SID=AC" + "1" * 32 + "\nTWILIO_AUTH_TOKEN=t\n"
        "TWILIO_FLEX_WORKSPACE_SID=WS"
        + "2" * 32
        + "\nTWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID=WW"
        + "3" * 32
        + "\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TWILIO_"):
            monkeypatch.delenv(name)
    assert Settings().twilio_flex_workspace_sid == "WS" + "2" * 32  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("missing", "named"),
    [("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN"), ("REDIS_URL", "REDIS_URL")],
)
def test_a_missing_setting_stops_the_process_with_one_line_naming_it(tmp_path, missing, named):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "CELERY_"))}
    env.update(
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="t",
        TWILIO_FLEX_WORKSPACE_SID="WS" + "2" * 32,
        TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID="WW" + "3" * 32,
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    del env[missing]
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]
