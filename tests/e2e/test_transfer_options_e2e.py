"""Transfer options: RoutingTarget mode and the Flex template's janitor compatibility."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.test_last_task_e2e import gateway_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"TRANSFER_ROUTING_TARGET_MODE": "true", "JANITOR_COMPAT": "true"}
    with LocalStack(worker_count=1, worker_concurrency=2, settings=settings) as running:
        yield running


def transfer(stack: LocalStack, agent: str, task_sid: str, target_sid: str, mode: str) -> dict:
    body = {"taskSid": task_sid, "targetSid": target_sid, "mode": mode, "Token": stack.setup.tokens[agent]}
    response = requests.post(f"{stack.base_url}/transfers", json=body, timeout=10)
    assert response.status_code == 202
    transfer_id = response.json()["transferId"]

    def settled() -> dict | None:
        status = requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json()
        return status if status["status"] != "pending" else None

    return wait_for(settled, what="transfer settled")


def test_routing_target_mode_and_janitor_compatibility(stack):
    sb, setup = stack.sandbox, stack.setup
    # An older Flex Flow chat: the task names the chat by channelSid only.
    gateway = gateway_for(stack)
    conversation = gateway.client.conversations.v1.conversations.create(friendly_name="lena").sid
    task_sid = gateway.create_task(
        workflow_sid=setup.assign_to_anyone_workflow_sid,
        task_channel="chat",
        attributes={"channelSid": conversation, "name": "lena"},
    )
    offer = sb.pending_reservation(task_sid=task_sid)
    sb.accept(offer["sid"])
    agent_a = next(n for n, s in setup.workers.items() if s == offer["worker_sid"])
    wait_for(lambda: stack.tracked(conversation).get("members"), what="A tracked by channelSid")
    agent_b = next(n for n in ("alice", "bob") if n != agent_a)

    result = transfer(stack, agent_a, task_sid, setup.workers[agent_b], "WARM")
    assert result["status"] == "created", result
    new_task = sb.task(result["transferTaskSid"])
    assert new_task["routing_target"] == setup.workers[agent_b]  # RoutingTarget, no workflow rule needed
    assert sb.pending_reservation(task_sid=new_task["sid"])["worker_sid"] == setup.workers[agent_b]
    original = json.loads(sb.task(task_sid)["attributes"])
    assert "channelSid" not in original  # a Flex Flow janitor cannot close the chat on it
    assert original["chatTransferData"]["transferTaskSid"] == new_task["sid"]

    sb.accept_task(new_task["sid"], setup.workers[agent_b])
    sb.wrapup(new_task["sid"])
    sb.complete(new_task["sid"])
    wait_for(lambda: stack.tracked(conversation)["tasks"][new_task["sid"]]["status"] == "closed", what="B")
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"
    # A's task.completed no longer names the chat; the service still knows which chat it is.
    sb.wrapup(task_sid)
    sb.complete(task_sid)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", what="the chat ended")
    kinds = [n["notificationType"] for n in stack.notices(conversation)]
    assert kinds.count("chat-ended") == 1
    sb.assert_faithful()
