"""Transfers end to end (CONTRACT §4 /transfers, §5, §6 rules 3-4), against the sandbox."""

from __future__ import annotations

import json

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.conftest import finish_leftover_tasks

pytestmark = pytest.mark.e2e

NAMES = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}


@pytest.fixture(autouse=True)
def agents_free(stack: LocalStack):
    yield
    finish_leftover_tasks(stack)


def accept_first_offer(stack: LocalStack, task_sid: str) -> str:
    offer = stack.sandbox.pending_reservation(task_sid=task_sid)
    stack.sandbox.accept(offer["sid"])
    return next(name for name, sid in stack.setup.workers.items() if sid == offer["worker_sid"])


def request_transfer(stack: LocalStack, agent: str, task_sid: str, target_sid: str, mode: str) -> str:
    response = requests.post(
        f"{stack.base_url}/transfers",
        json={"taskSid": task_sid, "targetSid": target_sid, "mode": mode, "Token": stack.setup.tokens[agent]},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["transferId"]


def transfer_status(stack: LocalStack, transfer_id: str) -> dict:
    return requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json()


def wait_transfer(stack: LocalStack, transfer_id: str) -> dict:
    return wait_for(
        lambda: (s := transfer_status(stack, transfer_id))["status"] != "pending" and s,
        what="transfer settled",
    )


def attributes_of(stack: LocalStack, task_sid: str) -> dict:
    return json.loads(stack.sandbox.task(task_sid)["attributes"])


def kinds(stack: LocalStack, conversation: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation)]


@pytest.mark.parametrize("strategy", ["task", "invite"])
@pytest.mark.parametrize("target_kind", ["worker", "queue"])
@pytest.mark.parametrize("mode", ["WARM", "COLD"])
def test_transfer_lifecycle(stack, mode, target_kind, strategy):
    sb, setup = stack.sandbox, stack.setup
    chat = sb.start_chat("erin", attributes={"language": "en-US"}, interactions=strategy == "invite")
    agent_a = accept_first_offer(stack, chat.task_sid)
    conversation = chat.conversation_sid
    wait_for(lambda: "joined" in kinds(stack, conversation), what="A joined")
    agent_b = next(n for n in ("alice", "bob") if n != agent_a) if target_kind == "worker" else None
    target_sid = setup.workers[agent_b] if agent_b else setup.queues["Sales"]
    original_before = attributes_of(stack, chat.task_sid)

    transfer_id = request_transfer(stack, agent_a, chat.task_sid, target_sid, mode)
    result = wait_transfer(stack, transfer_id)
    assert result["status"] == "created", result
    assert result["strategy"] == strategy
    new_task = result["transferTaskSid"]

    attributes = attributes_of(stack, new_task)
    for key, value in original_before.items():
        if key not in ("chatTransferData",):
            assert attributes[key] == value, key
    assert attributes["transferTargetSid"] == target_sid
    assert attributes["transferTargetType"] == target_kind
    assert attributes["transferQueueName"] == ("Sales" if target_kind == "queue" else "")
    assert attributes["ignoreWorkerContactUri"] == f"client:{setup.identities[agent_a]}"
    assert attributes["workerSidsInConversation"] == [setup.workers[agent_a]]
    expected_id = original_before.get("conversations", {}).get("conversation_id", chat.task_sid)
    assert attributes["conversations"]["conversation_id"] == expected_id
    assert attributes["transferredFromTaskSid"] == chat.task_sid
    assert attributes["transferType"] == mode

    wait_for(lambda: "transfer-started" in kinds(stack, conversation), what="transfer announced")
    started = next(n for n in stack.notices(conversation) if n["notificationType"] == "transfer-started")
    assert started["targetName"] == (NAMES[agent_b] if agent_b else "Sales")
    assert started["transferType"] == mode
    chat_transfer_data = attributes_of(stack, chat.task_sid)["chatTransferData"]
    assert chat_transfer_data == {"transferTaskSid": new_task, "transferType": mode}

    if mode == "COLD":
        wait_for(lambda: sb.task_status(chat.task_sid) in ("wrapping", "completed"), what="A out at once")
    else:
        assert sb.task_status(chat.task_sid) == "assigned"

    taker = accept_first_offer(stack, new_task)
    assert taker != agent_a  # the queue never offers the chat back to the transferring agent
    if agent_b:
        assert taker == agent_b
    wait_for(lambda: kinds(stack, conversation).count("joined") == 2, what="B joined")

    # B finishes first: in a warm transfer A is still there and the chat goes on.
    sb.wrapup(new_task)
    sb.complete(new_task)
    if mode == "WARM":
        wait_for(
            lambda: stack.tracked(conversation)["tasks"][new_task]["status"] == "closed", what="B closed"
        )
        sb.wait_idle()
        assert sb.conversation(conversation)["state"] == "active"
        sb.wrapup(chat.task_sid)
    if sb.task_status(chat.task_sid) != "completed":  # closing the participant completes it
        sb.complete(chat.task_sid)
    wait_for(
        lambda: sb.conversation(conversation)["state"] == "closed", what="chat ended after the last task"
    )
    assert kinds(stack, conversation).count("chat-ended") == 1
    assert kinds(stack, conversation).count("transfer-started") == 1
    assert len(sb.tasks(where=lambda attrs: attrs.get("transferId") == transfer_id)) == 1
    sb.assert_faithful()
