"""Transfers under crashes, bad input, and transfers nobody takes (CONTRACT §6 rules 3-4)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.conftest import finish_leftover_tasks
from tests.support.settings import sid
from worker.adapters.twilio_gateway import TwilioGateway
from worker.handlers.transfers import CRASH_AT_KEY
from worker.settings import Settings

pytestmark = pytest.mark.e2e

STEPS = ["hold", "target", "create", "track", "original"]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # A killed worker's transfer lock (and outbox lease) is free again 2 x TWILIO_HTTP_TIMEOUT +
    # OUTBOX_SETTLE_SECONDS after its last renewal: 12 s here (the sandbox answers in
    # milliseconds), 50 s with the defaults. Its job, redelivered at once, waits for it.
    settings = {
        "CHAT_TRANSFER_FAULT_INJECTION": "1",
        "TWILIO_HTTP_TIMEOUT_SECONDS": "4",
        "OUTBOX_SETTLE_SECONDS": "4",
    }
    with LocalStack(worker_count=1, worker_concurrency=2, settings=settings) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack):
    yield
    stack.redis.delete(CRASH_AT_KEY)
    finish_leftover_tasks(stack)


def chat_with_agent(stack: LocalStack, **chat_options) -> tuple[str, str, str]:
    chat = stack.sandbox.start_chat("frank", **chat_options)
    offer = stack.sandbox.pending_reservation(task_sid=chat.task_sid)
    stack.sandbox.accept(offer["sid"])
    agent = next(name for name, s in stack.setup.workers.items() if s == offer["worker_sid"])
    wait_for(lambda: stack.tracked(chat.conversation_sid).get("members"), what="agent tracked")
    return chat.conversation_sid, chat.task_sid, agent


def post_transfer(stack: LocalStack, body: dict) -> requests.Response:
    return requests.post(f"{stack.base_url}/transfers", json=body, timeout=10)


def settled(stack: LocalStack, transfer_id: str) -> dict:
    def done() -> dict | None:
        status = requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json()
        return status if status["status"] != "pending" else None

    return wait_for(done, timeout=30, what=f"transfer {transfer_id} settled")


def notice_kinds(stack: LocalStack, conversation: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation)]


@pytest.mark.parametrize("step", STEPS)
def test_a_worker_killed_at_any_step_still_makes_exactly_one_transfer(stack, step):
    stack.redis.set(CRASH_AT_KEY, step)
    conversation, task_sid, agent = chat_with_agent(stack)
    target = stack.setup.queues["Sales"]
    response = post_transfer(
        stack, {"taskSid": task_sid, "targetSid": target, "mode": "WARM", "Token": stack.setup.tokens[agent]}
    )
    assert response.status_code == 202
    transfer_id = response.json()["transferId"]
    result = settled(stack, transfer_id)
    assert stack.redis.exists(f"cft:crashed:{transfer_id}:{step}") == 1  # the crash did happen
    assert result["status"] == "created", result
    wait_for(lambda: "transfer-started" in notice_kinds(stack, conversation), what="announced")
    stack.sandbox.wait_idle()
    made = stack.sandbox.tasks(where=lambda attributes: attributes.get("transferId") == transfer_id)
    assert [t["sid"] for t in made] == [result["transferTaskSid"]]
    assert notice_kinds(stack, conversation).count("transfer-started") == 1
    assert stack.workers[0].alive()  # the pool replaced its killed child by itself


def test_bad_requests_get_a_clear_answer_and_change_nothing(stack):
    conversation, task_sid, agent = chat_with_agent(stack)
    setup = stack.setup
    other = next(name for name in setup.workers if name != agent)
    good = {
        "taskSid": task_sid,
        "targetSid": setup.queues["Sales"],
        "mode": "COLD",
        "Token": setup.tokens[agent],
    }

    assert post_transfer(stack, {**good, "Token": "not-a-token"}).status_code == 403
    assert post_transfer(stack, {**good, "Token": setup.tokens[other]}).status_code == 403
    bad_target = post_transfer(stack, {**good, "targetSid": sid("WT", 5)})
    assert (bad_target.status_code, bad_target.json()["field"]) == (400, "targetSid")
    bad_mode = post_transfer(stack, {**good, "mode": "TEPID"})
    assert (bad_mode.status_code, bad_mode.json()["field"]) == (400, "mode")
    unknown_task = post_transfer(stack, {**good, "taskSid": sid("WT", 77)})
    assert unknown_task.status_code == 404

    unknown_target = post_transfer(stack, {**good, "targetSid": sid("WK", 99)})
    assert unknown_target.status_code == 202
    failed = settled(stack, unknown_target.json()["transferId"])
    assert failed["status"] == "failed" and "unknown transfer target" in failed["reason"]

    state = stack.tracked(conversation)
    assert [h["state"] for h in state["holds"].values()] == ["failed"]  # no hold left open
    assert stack.sandbox.task_status(task_sid) == "assigned"  # a failed cold transfer leaves A alone
    assert "transfer-started" not in notice_kinds(stack, conversation)


def test_a_task_that_is_not_a_chat_and_a_chat_that_ended_are_refused(stack):
    setup = stack.setup
    supervisor = stack.sandbox.register_token(None, roles=("supervisor",), identity="sam")
    settings = Settings(
        _env_file=None,
        twilio_account_sid=stack.sandbox.account_sid,
        twilio_auth_token=stack.sandbox.auth_token,
        twilio_flex_workspace_sid=setup.workspace_sid,
        twilio_flex_chat_transfer_workflow_sid=setup.chat_transfer_workflow_sid,
        twilio_api_base_url=stack.sandbox.base_url,
    )
    voice_task = TwilioGateway(settings).create_task(
        workflow_sid=setup.assign_to_anyone_workflow_sid,
        task_channel="default",
        attributes={"call_sid": "CA1"},
    )
    stack.sandbox.accept_task(voice_task)
    response = post_transfer(
        stack,
        {"taskSid": voice_task, "targetSid": setup.queues["Sales"], "mode": "COLD", "Token": supervisor},
    )
    assert response.status_code == 202
    refused = settled(stack, response.json()["transferId"])
    assert refused["status"] == "failed" and "not a chat" in refused["reason"]

    conversation, task_sid, _agent = chat_with_agent(stack)
    stack.sandbox.wrapup(task_sid)
    stack.sandbox.complete(task_sid)
    wait_for(lambda: stack.tracked(conversation).get("ended") == "ended", what="the chat ended")
    late = post_transfer(
        stack, {"taskSid": task_sid, "targetSid": setup.queues["Sales"], "mode": "WARM", "Token": supervisor}
    )
    refused = settled(stack, late.json()["transferId"])
    assert refused["status"] == "failed" and "completed" in refused["reason"]


@pytest.mark.parametrize("mode", ["WARM", "COLD"])
def test_a_transfer_nobody_takes(stack, mode):
    sb, setup = stack.sandbox, stack.setup
    conversation, task_sid, agent = chat_with_agent(stack)
    target_name = next(name for name in setup.workers if name != agent)
    sb.set_activity(setup.workers[target_name], "Offline")
    try:
        response = post_transfer(
            stack,
            {
                "taskSid": task_sid,
                "targetSid": setup.workers[target_name],
                "mode": mode,
                "Token": setup.tokens[agent],
                "timeout": 60,
            },
        )
        transfer = settled(stack, response.json()["transferId"])
        assert transfer["status"] == "created"
        sb.advance(61)  # nobody answers: TaskRouter cancels it, Task TTL Exceeded
        wait_for(
            lambda: "transfer-failed" in notice_kinds(stack, conversation), what="transfer-failed notice"
        )

        def requeued():
            return sb.tasks(where=lambda a: a.get("conversationSid") == conversation and "requeueOf" in a)

        if mode == "WARM":
            sb.wait_idle()
            assert sb.task_status(task_sid) == "assigned"  # A is still there: nothing else happens
            assert requeued() == []
        else:
            [task] = wait_for(requeued, what="the customer put back in a queue")
            attributes = json.loads(task["attributes"])
            assert attributes["conversationSid"] == conversation
            assert "transferTargetSid" not in attributes
            assert task["workflow_sid"] == setup.assign_to_anyone_workflow_sid
        sb.wait_idle()
        assert sb.conversation(conversation)["state"] == "active"  # never left alone in a closed chat
        assert stack.tracked(conversation)["ended"] is None
    finally:
        sb.set_activity(setup.workers[target_name], "Available")
