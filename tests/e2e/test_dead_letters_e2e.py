"""Work that gives up after its retries becomes a dead letter an operator can list and retry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.conftest import finish_leftover_tasks

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"TASK_MAX_RETRIES": "2", "RETRY_BACKOFF_SECONDS": "0.05"}
    with LocalStack(worker_count=1, worker_concurrency=2, settings=settings) as running:
        yield running


@pytest.fixture(autouse=True)
def agents_free(stack: LocalStack) -> Iterator[None]:
    yield
    finish_leftover_tasks(stack)


def cli(stack: LocalStack, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", *args], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def letter_about(stack: LocalStack, needle: str) -> dict | None:
    """The dead letter whose payload names `needle` (a sid, a transfer id), once it is recorded."""
    letters = [json.loads(raw) for raw in stack.redis.lrange("cft:dead-letters", 0, -1)]
    return next((letter for letter in letters if needle in json.dumps(letter["payload"])), None)


def listed_index(stack: LocalStack, needle: str) -> str:
    """`dead-letters list`'s index of the letter whose line names `needle`."""
    entry = next(line for line in cli(stack, "dead-letters", "list").splitlines() if needle in line)
    return entry.split("\t", 1)[0]


def test_a_notice_twilio_keeps_refusing_is_dead_lettered_then_retried(stack):
    sb = stack.sandbox
    sb.faults.configure(
        rate_500=1.0, path=r"^/conversations/v1/Conversations/[^/]+/Messages$", methods=["POST"]
    )
    try:
        chat = sb.start_chat("nora", first_message=None)
        offer = sb.pending_reservation(task_sid=chat.task_sid)
        sb.accept(offer["sid"])
        # This chat's letter, not any letter: the module's other tests record theirs too.
        letter = wait_for(
            lambda: letter_about(stack, chat.task_sid), timeout=60, what="the notice's dead letter"
        )
        assert sb.faults.counts  # Twilio really did refuse
    finally:
        sb.faults.reset()
    assert "TwilioTransient" in letter["error"]
    index = listed_index(stack, chat.task_sid)
    assert [n["notificationType"] for n in stack.notices(chat.conversation_sid)] == []

    assert cli(stack, "dead-letters", "retry", index).startswith("requeued")
    wait_for(
        lambda: [n["notificationType"] for n in stack.notices(chat.conversation_sid)] == ["joined"],
        timeout=60,
        what="the joined notice posted by the retried work",
    )
    assert letter_about(stack, chat.task_sid) is None


def test_a_transfer_whose_job_gives_up_fails_and_frees_the_task(stack):
    """Its dead letter used to leave the transfer pending for a week: every new transfer of the
    task answered 409, and the Flex UI waited on `pending`."""
    sb, setup = stack.sandbox, stack.setup
    chat = sb.start_chat("otto", first_message=None)
    offer = sb.pending_reservation(task_sid=chat.task_sid)
    sb.accept(offer["sid"])
    agent = next(name for name, worker_sid in setup.workers.items() if worker_sid == offer["worker_sid"])
    wait_for(lambda: stack.tracked(chat.conversation_sid).get("members"), what="the agent tracked")
    body = {
        "taskSid": chat.task_sid,
        "targetSid": setup.queues["Sales"],
        "mode": "WARM",
        "Token": setup.tokens[agent],
    }

    sb.faults.configure(rate_500=1.0, path=r"^/taskrouter/v1/Workspaces/[^/]+/Tasks$", methods=["POST"])
    try:
        first = requests.post(f"{stack.base_url}/transfers", json=body, timeout=10)
        assert first.status_code == 202, first.text
        transfer_id = first.json()["transferId"]
        wait_for(lambda: letter_about(stack, transfer_id), timeout=60, what="the transfer's dead letter")
        failed = wait_for(lambda: settled(stack, transfer_id), timeout=60, what="the transfer settled")
    finally:
        sb.faults.reset()
    assert failed["status"] == "failed"
    assert failed["reason"] == "gave up after 3 attempts: TwilioTransient"  # TASK_MAX_RETRIES + 1
    assert stack.tracked(chat.conversation_sid)["holds"][transfer_id]["state"] == "failed"

    again = requests.post(f"{stack.base_url}/transfers", json=body, timeout=10)
    assert again.status_code == 202, again.text  # was 409 naming the dead transfer
    created = wait_for(
        lambda: settled(stack, again.json()["transferId"]), timeout=60, what="the second transfer"
    )
    assert created["status"] == "created"

    retried = cli(stack, "dead-letters", "retry", listed_index(stack, transfer_id))
    assert retried.startswith(f"not requeued: transfer {transfer_id} has settled as failed")
    assert letter_about(stack, transfer_id) is None
    transfers = sb.tasks(where=lambda a: a.get("transferredFromTaskSid") == chat.task_sid)
    assert [task["sid"] for task in transfers] == [created["transferTaskSid"]]


def settled(stack: LocalStack, transfer_id: str) -> dict | None:
    status = requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json()
    return status if status["status"] != "pending" else None
