"""The Flex that really exists (issue 15), end to end: real Redis, real Celery worker processes,
the receiver under gunicorn, the sandbox over HTTP behaving as Flex documents.

- agents leave through `POST /tasks/<WT>/leave` (B first, A's chat goes on; both at once);
- a cold transfer nobody takes after TaskRouter deleted the original task: the customer is
  requeued through the right API (a task, or an invite on the interaction channel), never ended;
- a chat Flex keeps open (its interaction channel inactive) is left open, and the task that
  resumes it is tracked, not canceled.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.rest import Client

from ops.localstack import LocalStack, wait_for
from tests.e2e.conftest import finish_leftover_tasks
from worker.adapters.http_client import RoutedHttpClient

pytestmark = pytest.mark.e2e

# TaskRouter deletes an ended task five minutes after it ended; shortened here (and the transfer's
# timeout with it, TRANSFER_TIMEOUT_SECONDS allowing no more than 120 s).
RETENTION = 30


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        worker_count=1, worker_concurrency=2, sandbox_options={"task_retention": RETENTION}
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> Iterator[None]:
    yield
    finish_leftover_tasks(stack)
    for name in stack.setup.workers:
        stack.sandbox.set_activity(stack.setup.workers[name], "Available")


def twilio(stack: LocalStack) -> Client:
    sb = stack.sandbox
    return Client(sb.account_sid, sb.auth_token, http_client=RoutedHttpClient(sb.base_url))


def kinds(stack: LocalStack, conversation: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation)]


def chat_with_agent(stack: LocalStack, *, interactions: bool) -> tuple[Any, str]:
    """A customer's chat, accepted by the first agent offered; returns it and the agent's name."""
    sb = stack.sandbox
    chat = sb.start_chat("Maria", interactions=interactions)
    offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
    sb.accept(offer["sid"])
    agent = next(name for name, worker in stack.setup.workers.items() if worker == offer["worker_sid"])
    wait_for(lambda: "joined" in kinds(stack, chat.conversation_sid), 30, what="the joined notice")
    return chat, agent


def transfer(stack: LocalStack, agent: str, task_sid: str, target: str, mode: str, **extra: Any) -> dict:
    body = {"taskSid": task_sid, "targetSid": target, "mode": mode, "Token": stack.setup.tokens[agent]}
    response = requests.post(f"{stack.base_url}/transfers", json={**body, **extra}, timeout=10)
    assert response.status_code == 202, response.text
    transfer_id = response.json()["transferId"]

    def settled() -> dict | None:
        status = requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json()
        return status if status["status"] != "pending" else None

    result = wait_for(settled, 30, what="the transfer set up")
    assert result["status"] == "created", result
    return result


def leave(stack: LocalStack, agent: str, task_sid: str) -> requests.Response:
    """The plugin's Leave chat; a 503 (the receiver busy with another browser request) is retried
    after its Retry-After, as a client does."""

    def answered() -> requests.Response | None:
        response = requests.post(
            f"{stack.base_url}/tasks/{task_sid}/leave", json={"Token": stack.setup.tokens[agent]}, timeout=10
        )
        return None if response.status_code == 503 else response

    return wait_for(answered, 30, interval=1.0, what="an answer other than 503")


def participants(stack: LocalStack, conversation: str) -> set[str]:
    return {p["identity"] for p in stack.sandbox.participants(conversation)}


def closes(stack: LocalStack, chat: Any) -> int:
    """Requests by which the service closed the chat: the conversation, or the interaction channel."""
    sb = stack.sandbox
    conversation = [
        r
        for r in sb.requests_to(product="conversations", method="POST")
        if r.params.get("State") == "closed" and r.path.endswith(chat.conversation_sid)
    ]
    channel = [
        r
        for r in sb.requests_to(product="flex-api", method="POST")
        if chat.interaction_channel_sid
        and r.path.endswith(chat.interaction_channel_sid)
        and r.params.get("Status") == "closed"
    ]
    return len(conversation) + len(channel)


def ended(stack: LocalStack, conversation: str) -> None:
    """Wait for the service to have ended the chat and done all it had to."""
    sb = stack.sandbox
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", 30, what="the conversation closed")
    wait_for(lambda: stack.tracked(conversation).get("ended") == "ended", 30, what="tracking ended")
    wait_for(lambda: not stack.tracked(conversation)["outbox"], 30, what="the outbox drained")
    sb.wait_idle()


def warm_chat(stack: LocalStack, *, interactions: bool) -> tuple[Any, str, str, str]:
    """A's chat, warm-transferred to B, who accepted: both in the chat."""
    sb, setup = stack.sandbox, stack.setup
    chat, agent_a = chat_with_agent(stack, interactions=interactions)
    agent_b = next(name for name in setup.workers if name != agent_a)
    result = transfer(stack, agent_a, chat.task_sid, setup.workers[agent_b], "WARM")
    sb.accept(sb.pending_reservation(task_sid=result["transferTaskSid"], timeout=30)["sid"])
    wait_for(lambda: kinds(stack, chat.conversation_sid).count("joined") == 2, 30, what="B joined")
    return chat, agent_a, agent_b, result["transferTaskSid"]


# ---- agents leave through the service -------------------------------------------------------------


@pytest.mark.parametrize("interactions", [False, True], ids=["older chat", "Flex Conversations chat"])
def test_b_leaves_first_through_the_service_and_as_chat_goes_on(
    stack: LocalStack, interactions: bool
) -> None:
    sb = stack.sandbox
    chat, agent_a, agent_b, task_b = warm_chat(stack, interactions=interactions)
    conversation = chat.conversation_sid

    response = leave(stack, agent_b, task_b)
    assert response.status_code == 202, response.text
    assert response.json() == {"taskSid": task_b, "conversationSid": conversation, "status": "leaving"}
    wait_for(lambda: "left" in kinds(stack, conversation), 30, what="B's left notice")
    wait_for(lambda: agent_b not in participants(stack, conversation), 30, what="B out of the conversation")
    wait_for(lambda: sb.task_status(task_b) in ("wrapping", "completed"), 30, what="B's task ended")
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"
    assert sb.task_status(chat.task_sid) == "assigned"
    assert agent_a in participants(stack, conversation)
    assert stack.tracked(conversation)["ended"] is None
    again = leave(stack, agent_b, task_b)  # a double click: answered the same, nothing more happens
    assert again.status_code == 202, again.text

    assert leave(stack, agent_a, chat.task_sid).status_code == 202
    ended(stack, conversation)
    assert kinds(stack, conversation).count("left") == 2
    assert kinds(stack, conversation).count("chat-ended") == 1
    assert closes(stack, chat) == 1
    if interactions:  # the Interactions API only: nothing on its tasks through TaskRouter
        assert not [r for r in sb.requests_to(product="taskrouter", method="POST") if task_b in r.path]
    sb.assert_faithful()


@pytest.mark.parametrize("interactions", [False, True], ids=["older chat", "Flex Conversations chat"])
def test_both_agents_leaving_at_the_same_moment_end_the_chat_once(
    stack: LocalStack, interactions: bool
) -> None:
    """The Flex template's race (remove-participant.js): two leaves at once must neither leave the
    customer alone in an open chat nor end it twice."""
    sb = stack.sandbox
    chat, agent_a, agent_b, task_b = warm_chat(stack, interactions=interactions)
    answers: list[int] = []
    go = threading.Barrier(2)

    def leave_now(agent: str, task_sid: str) -> None:
        go.wait()
        answers.append(leave(stack, agent, task_sid).status_code)

    threads = [
        threading.Thread(target=leave_now, args=(agent_a, chat.task_sid)),
        threading.Thread(target=leave_now, args=(agent_b, task_b)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [202, 202]
    ended(stack, chat.conversation_sid)
    assert closes(stack, chat) == 1
    assert kinds(stack, chat.conversation_sid).count("chat-ended") == 1
    assert kinds(stack, chat.conversation_sid).count("left") == 2
    sb.assert_faithful()


def test_an_agent_who_leaves_before_the_service_heard_them_accept_is_still_taken_out(
    stack: LocalStack,
) -> None:
    """The plugin's Leave can outrun reservation.accepted: the service learns the agent from the
    task, says they joined and left, and takes them out of the conversation."""
    sb = stack.sandbox
    sb.pause_webhooks()  # every event of this chat is late
    try:
        chat = sb.start_chat("Maria")
        offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
        agent = next(name for name, worker in stack.setup.workers.items() if worker == offer["worker_sid"])
        sb.accept(offer["sid"])
        assert leave(stack, agent, chat.task_sid).status_code == 202
        wait_for(lambda: agent not in participants(stack, chat.conversation_sid), 30, what="out of the chat")
    finally:
        sb.resume_webhooks()
    ended(stack, chat.conversation_sid)
    assert kinds(stack, chat.conversation_sid) == ["joined", "left", "chat-ended"]
    sb.assert_faithful()


# ---- tasks vanish: requeue without the original task ---------------------------------------------


@pytest.mark.parametrize("interactions", [False, True], ids=["older chat", "Flex Conversations chat"])
def test_a_cold_transfer_nobody_takes_after_the_original_task_is_gone_requeues_the_customer(
    stack: LocalStack, interactions: bool
) -> None:
    sb, setup = stack.sandbox, stack.setup
    chat, agent_a = chat_with_agent(stack, interactions=interactions)
    conversation = chat.conversation_sid
    absent = next(name for name in setup.workers if name != agent_a)
    sb.set_activity(setup.workers[absent], "Offline")
    transfer(stack, agent_a, chat.task_sid, setup.workers[absent], "COLD", timeout=2 * RETENTION)
    wait_for(lambda: sb.task_status(chat.task_sid) in ("wrapping", "completed"), 30, what="A out")
    if sb.task_status(chat.task_sid) == "wrapping":
        sb.complete(chat.task_sid)  # A finishes wrap-up as usual
    sb.advance(RETENTION + 1)
    assert sb.task_status(chat.task_sid) is None  # TaskRouter deleted it
    invites_before = len(sb.requests_to(product="flex-api", method="POST", template=INVITES))
    creates_before = len(sb.requests_to(product="taskrouter", method="POST", template=TASKS))

    sb.advance(RETENTION)  # then the transfer times out: Task TTL Exceeded
    wait_for(lambda: "transfer-failed" in kinds(stack, conversation), 30, what="transfer-failed")

    def requeued() -> list[dict]:
        return sb.tasks(where=lambda a: a.get("conversationSid") == conversation and "requeueOf" in a)

    [task] = wait_for(requeued, 30, what="the customer put back in a queue")
    attributes = json.loads(task["attributes"])
    assert attributes["name"] == "Maria" and "transferTargetSid" not in attributes
    assert task["workflow_sid"] == setup.assign_to_anyone_workflow_sid
    invites = len(sb.requests_to(product="flex-api", method="POST", template=INVITES)) - invites_before
    creates = len(sb.requests_to(product="taskrouter", method="POST", template=TASKS)) - creates_before
    if interactions:
        assert (invites, creates) == (1, 0)  # an invite on its channel, never a bare TaskRouter task
        assert attributes["flexInteractionChannelSid"] == chat.interaction_channel_sid
    else:
        assert (invites, creates) == (0, 1)
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"
    assert stack.tracked(conversation)["ended"] is None
    assert not stack.tracked(conversation)["failures"]

    # Someone takes it: the chat goes on as with any first task.
    sb.set_activity(setup.workers[absent], "Available")
    sb.accept(sb.pending_reservation(task_sid=task["sid"], timeout=30)["sid"])
    wait_for(lambda: kinds(stack, conversation).count("joined") == 2, 30, what="the new agent joined")
    sb.assert_faithful()


INVITES = "/v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Invites"
TASKS = "/v1/Workspaces/{WorkspaceSid}/Tasks"


# ---- an agent's native End chat while other tasks are in flight ------------------------------------


def refused_by_twilio(stack: LocalStack, conversation: str) -> list[Any]:
    """The service's requests about the chat that Twilio refused (a 4xx)."""
    return [r for r in stack.sandbox.requests if conversation in r.path and (r.status or 0) >= 400]


@pytest.mark.parametrize("interactions", [False, True], ids=["older chat", "Flex Conversations chat"])
def test_b_ends_the_chat_natively_while_a_transfer_waits(stack: LocalStack, interactions: bool) -> None:
    """Flex's End chat closes the chat for everybody: the service treats it as closed by an agent
    (rule 5): the waiting transfer task is canceled, nobody is requeued, nothing is posted, no
    error loops, and it says who closed it."""
    sb, setup = stack.sandbox, stack.setup
    chat, agent_a, agent_b, task_b = warm_chat(stack, interactions=interactions)
    conversation = chat.conversation_sid
    agent_c = next(name for name in setup.workers if name not in (agent_a, agent_b))
    sb.set_activity(setup.workers[agent_c], "Offline")
    waiting = transfer(stack, agent_b, task_b, setup.workers[agent_c], "WARM")["transferTaskSid"]
    posted = len(sb.messages(conversation))

    sb.agent_end_chat(task_b)
    assert sb.conversation(conversation)["state"] == "closed"
    wait_for(lambda: sb.task_status(waiting) == "canceled", 30, what="the waiting transfer task canceled")
    wait_for(lambda: stack.tracked(conversation).get("closed_by") == "agent", 30, what="closed by the agent")
    if sb.task_status(chat.task_sid) == "assigned":  # an older chat: A's task is A's to end
        sb.complete(chat.task_sid)
    wait_for(lambda: stack.tracked(conversation).get("ended") == "ended", 30, what="tracking ended")
    wait_for(lambda: not stack.tracked(conversation)["outbox"], 30, what="the outbox drained")
    sb.wait_idle()

    assert len(sb.messages(conversation)) == posted  # nothing posted into the closed chat
    assert not sb.tasks(where=lambda a: a.get("conversationSid") == conversation and "requeueOf" in a)
    refused = refused_by_twilio(stack, conversation)
    assert len(refused) <= 1, refused  # at most the one post that taught the service it was closed
    assert sb.interaction_misuses == []
    supervisor = sb.register_token(setup.workers[agent_c], roles=("agent", "supervisor"))
    seen = requests.get(
        f"{stack.base_url}/chats/{conversation}", headers={"X-Flex-Token": supervisor}, timeout=10
    )
    assert (seen.json()["closedBy"], seen.json()["ended"]) == ("agent", True)
    sb.assert_faithful()


# ---- Flex keeps a chat open on purpose (rule 12) ------------------------------------------------


@pytest.mark.parametrize("how", ["leave", "pause", "park"])
def test_a_chat_flex_keeps_open_is_left_open_and_its_resume_is_tracked(stack: LocalStack, how: str) -> None:
    sb = stack.sandbox
    chat, _agent = chat_with_agent(stack, interactions=True)
    conversation = chat.conversation_sid
    if how == "leave":
        sb.flex_leave(chat.task_sid)  # Flex's Leave: the channel inactive
        sb.complete(chat.task_sid)
    elif how == "pause":
        sb.pause_chat(chat.task_sid)
    else:
        sb.park(chat.task_sid)  # the template's Park
    kept = {"leave": "inactive", "pause": "pause", "park": "parked"}[how]
    wait_for(lambda: stack.tracked(conversation).get("kept_open") == kept, 30, what="the end called off")
    sb.wait_idle()
    assert stack.tracked(conversation)["ended"] is None
    assert sb.conversation(conversation)["state"] != "closed"
    assert sb.interaction_channel(chat.interaction_channel_sid)["status"] != "closed"
    assert "chat-ended" not in kinds(stack, conversation)
    assert closes(stack, chat) == 0

    # The customer writes again (or the agent resumes): a new task on the channel, tracked as a
    # first one, not canceled.
    if how == "pause":
        sb.resume(conversation)
    else:
        sb.customer_message(conversation, "Me again: it still has not arrived")

    def resumed_task() -> str | None:
        tasks = stack.tracked(conversation).get("tasks", {})
        return next((sid for sid in tasks if sid != chat.task_sid), None)

    resumed = wait_for(resumed_task, 30, what="the resuming task tracked")
    sb.wait_idle()
    assert stack.tracked(conversation)["tasks"][resumed]["status"] == "inflight"
    assert sb.task_status(resumed) in ("pending", "reserved", "assigned")  # not canceled
    assert stack.tracked(conversation)["kept_open"] is None
    if sb.task_status(resumed) != "assigned":
        sb.accept(sb.pending_reservation(task_sid=resumed, timeout=30)["sid"])
    wait_for(lambda: stack.tracked(conversation)["tasks"][resumed]["assigned"], 30, what="accepted")

    # And this time the agent leaves through the service with nothing else open: it ends.
    worker = next(m["worker_sid"] for m in stack.tracked(conversation)["members"] if m["task_sid"] == resumed)
    agent = next(name for name, sid in stack.setup.workers.items() if sid == worker)
    assert leave(stack, agent, resumed).status_code == 202
    ended(stack, conversation)
    assert kinds(stack, conversation).count("chat-ended") == 1
    sb.assert_faithful()


# ---- a cold transfer is the first agent leaving -------------------------------------------------


@pytest.mark.parametrize("interactions", [False, True], ids=["older chat", "Flex Conversations chat"])
def test_a_cold_transfer_takes_the_first_agent_out_of_the_chat(stack: LocalStack, interactions: bool) -> None:
    """A REST wrap-up leaves the agent in the conversation (Flex's orchestration runs in the UI):
    the cold transfer takes them out as a leave does."""
    sb, setup = stack.sandbox, stack.setup
    chat, agent_a = chat_with_agent(stack, interactions=interactions)
    agent_b = next(name for name in setup.workers if name != agent_a)
    result = transfer(stack, agent_a, chat.task_sid, setup.workers[agent_b], "COLD")
    wait_for(lambda: agent_a not in participants(stack, chat.conversation_sid), 30, what="A out of the chat")
    assert sb.task_status(chat.task_sid) in ("wrapping", "completed")
    sb.accept(sb.pending_reservation(task_sid=result["transferTaskSid"], timeout=30)["sid"])
    wait_for(lambda: kinds(stack, chat.conversation_sid).count("joined") == 2, 30, what="B joined")
    sb.wait_idle()
    assert kinds(stack, chat.conversation_sid).count("left") == 1
    assert sb.conversation(chat.conversation_sid)["state"] == "active"
    assert sb.interaction_misuses == []
    sb.assert_faithful()
