"""Work that gives up after its retries becomes a dead letter an operator can list and retry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"TASK_MAX_RETRIES": "2", "RETRY_BACKOFF_SECONDS": "0.05"}
    with LocalStack(worker_count=1, worker_concurrency=2, settings=settings) as running:
        yield running


def cli(stack: LocalStack, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", *args], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_notice_twilio_keeps_refusing_is_dead_lettered_then_retried(stack):
    sb = stack.sandbox
    sb.faults.configure(
        rate_500=1.0, path=r"^/conversations/v1/Conversations/[^/]+/Messages$", methods=["POST"]
    )
    try:
        chat = sb.start_chat("nora", first_message=None)
        offer = sb.pending_reservation(task_sid=chat.task_sid)
        sb.accept(offer["sid"])
        wait_for(lambda: stack.redis.llen("cft:dead-letters") >= 1, timeout=60, what="a dead letter")
        assert sb.faults.counts  # Twilio really did refuse
    finally:
        sb.faults.reset()
    listed = cli(stack, "dead-letters", "list")
    entry = next(line for line in listed.splitlines() if chat.task_sid in line)
    index = entry.split("\t", 1)[0]
    assert "TwilioTransient" in entry
    assert [n["notificationType"] for n in stack.notices(chat.conversation_sid)] == []

    assert "requeued" in cli(stack, "dead-letters", "retry", index)
    wait_for(
        lambda: [n["notificationType"] for n in stack.notices(chat.conversation_sid)] == ["joined"],
        what="the joined notice posted by the retried work",
    )
    remaining = [json.loads(raw) for raw in stack.redis.lrange("cft:dead-letters", 0, -1)]
    assert all(chat.task_sid not in json.dumps(e["payload"]) for e in remaining)
