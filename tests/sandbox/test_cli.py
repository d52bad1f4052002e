"""The sandbox from the command line prints what the service needs and serves it."""

import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_and_prints_its_settings():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            "0",
            "--seed",
            "3",
            "--seed-flex",
            "--worker",
            "alice:sales",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        settings = {}
        while "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID" not in settings:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if "=" in line:
                key, _, value = line.strip().partition("=")
                settings[key] = value
        base = settings["TWILIO_API_BASE_URL"]
        auth = (settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"])
        ws = requests.get(
            f"{base}/taskrouter/v1/Workspaces/{settings['TWILIO_FLEX_WORKSPACE_SID']}", auth=auth, timeout=10
        )
        assert ws.status_code == 200 and ws.json()["friendly_name"] == "Flex Task Assignment"
        wf = requests.get(
            f"{base}/taskrouter/v1/Workspaces/{settings['TWILIO_FLEX_WORKSPACE_SID']}/Workflows/"
            f"{settings['TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID']}",
            auth=auth,
            timeout=10,
        )
        assert wf.json()["friendly_name"] == "Chat Transfer"
        assert requests.get(f"{base}/_sandbox/violations", timeout=10).json() == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
