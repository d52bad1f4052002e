"""The last task ends the chat (CONTRACT §6 rules 1, 2, 5, 6), end to end: the sandbox's
TaskRouter and Conversations send signed webhooks to the receiver under gunicorn, real
Celery workers apply them to state in a real Redis, and post back to the sandbox."""

from __future__ import annotations

import json

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.support.settings import make_settings
from tests.support.signing import twilio_signature
from worker.adapters.twilio_gateway import TwilioGateway

pytestmark = pytest.mark.e2e


def gateway_for(stack: LocalStack) -> TwilioGateway:
    env = stack.env
    settings = make_settings(
        twilio_account_sid=env["TWILIO_ACCOUNT_SID"],
        twilio_auth_token=env["TWILIO_AUTH_TOKEN"],
        twilio_flex_workspace_sid=env["TWILIO_FLEX_WORKSPACE_SID"],
        twilio_flex_chat_transfer_workflow_sid=env["TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID"],
        twilio_api_base_url=env["TWILIO_API_BASE_URL"],
    )
    return TwilioGateway(settings)


def second_agent_task(stack: LocalStack, conversation_sid: str, worker: str) -> str:
    """B's task on the same chat, created directly (transfers have their own tests)."""
    return gateway_for(stack).create_task(
        workflow_sid=stack.setup.chat_transfer_workflow_sid,
        task_channel="chat",
        attributes={
            "conversationSid": conversation_sid,
            "transferTargetType": "worker",
            "transferTargetSid": stack.setup.workers[worker],
        },
    )


def kinds(stack: LocalStack, conversation_sid: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation_sid)]


def accept_first_offer(stack: LocalStack, task_sid: str) -> str:
    """Whoever TaskRouter offers the task to accepts it; returns their name."""
    offer = stack.sandbox.pending_reservation(task_sid=task_sid)
    stack.sandbox.accept(offer["sid"])
    return next(name for name, sid in stack.setup.workers.items() if sid == offer["worker_sid"])


def chat_with_two_agents(stack: LocalStack) -> tuple[str, str, str, str, str]:
    sb = stack.sandbox
    chat = sb.start_chat("carla")
    agent_a = accept_first_offer(stack, chat.task_sid)
    agent_b = next(name for name in ("alice", "bob", "carol") if name != agent_a)
    task_b = second_agent_task(stack, chat.conversation_sid, agent_b)
    sb.accept_task(task_b, stack.setup.workers[agent_b])
    wait_for(
        lambda: kinds(stack, chat.conversation_sid).count("joined") == 2,
        what="both agents announced as joined",
    )
    return chat.conversation_sid, chat.task_sid, task_b, agent_a, agent_b


def finish(stack: LocalStack, task_sid: str) -> None:
    stack.sandbox.wrapup(task_sid)
    stack.sandbox.complete(task_sid)


def test_b_finishes_first_then_a_the_chat_ends_once(stack):
    sb, setup = stack.sandbox, stack.setup
    conversation, task_a, task_b, agent_a, agent_b = chat_with_two_agents(stack)

    finish(stack, task_b)
    wait_for(lambda: stack.tracked(conversation)["tasks"][task_b]["status"] == "closed", what="B closed")
    wait_for(lambda: "left" in kinds(stack, conversation), what="Bob's left notice")
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"
    assert stack.tracked(conversation)["ended"] is None
    sb.agent_message(conversation, setup.workers[agent_a], "I am still here")  # A can still post

    finish(stack, task_a)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", what="the chat ended")
    notices = stack.notices(conversation)
    assert [n["notificationType"] for n in notices] == ["joined", "joined", "left", "left", "chat-ended"]
    names = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}  # public_identity, else first of full_name
    expected = [names[agent_a], names[agent_b], names[agent_b], names[agent_a]]
    assert [n.get("workerName") for n in notices[:4]] == expected
    closes = [
        r for r in sb.requests_to(product="conversations", method="POST")
        if r.params.get("State") == "closed" and conversation in r.path
    ]  # fmt: skip
    assert len(closes) == 1
    attributes = json.loads(sb.conversation(conversation)["attributes"])
    assert attributes["associatedTasks"] == {task_a: "completed", task_b: "completed"}
    sb.assert_faithful()


def test_a_finishes_first_then_b_the_chat_ends_once(stack):
    sb = stack.sandbox
    conversation, task_a, task_b, _agent_a, _agent_b = chat_with_two_agents(stack)

    finish(stack, task_a)
    wait_for(lambda: stack.tracked(conversation)["tasks"][task_a]["status"] == "closed", what="A closed")
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"

    finish(stack, task_b)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", what="the chat ended")
    assert kinds(stack, conversation).count("chat-ended") == 1
    assert stack.tracked(conversation)["ended"] == "ended"
    sb.assert_faithful()


def test_the_customer_leaving_cancels_the_task_waiting_in_a_queue(stack):
    sb, setup = stack.sandbox, stack.setup
    sb.set_activity(setup.workers["carol"], "Offline")
    chat = sb.start_chat("dave", attributes={"transferQueueName": "nobody"})
    # Nobody accepts it; the customer gives up and closes the chat.
    wait_for(lambda: stack.tracked(chat.conversation_sid).get("tasks"), what="task tracked")
    sb.customer_leave(chat.conversation_sid)
    wait_for(lambda: sb.task_status(chat.task_sid) == "canceled", what="the waiting task canceled")
    assert "customer" in (sb.task(chat.task_sid).get("reason") or "").lower()
    wait_for(lambda: stack.tracked(chat.conversation_sid)["ended"] == "ended", what="tracking finished")
    assert "chat-ended" not in kinds(stack, chat.conversation_sid)  # the closed chat takes no messages
    sb.set_activity(setup.workers["carol"], "Available")


def post_signed(stack: LocalStack, path: str, fields: dict[str, str], sign: bool = True) -> requests.Response:
    url = f"{stack.base_url}{path}"
    headers = {"X-Twilio-Signature": twilio_signature(url, fields, stack.sandbox.auth_token)} if sign else {}
    return requests.post(url, data=fields, headers=headers, timeout=10)


def test_the_studio_utility_tracks_a_task_the_events_could_not(stack):
    sb, setup = stack.sandbox, stack.setup
    chat = sb.start_chat("gina")
    # A Studio flow whose task does not name the conversation: task.created cannot track it.
    task = gateway_for(stack).create_task(
        workflow_sid=setup.assign_to_anyone_workflow_sid, task_channel="chat", attributes={"name": "gina"}
    )
    sb.wait_idle()
    assert task not in stack.tracked(chat.conversation_sid).get("tasks", {})

    fields = {"taskSid": task, "channelSid": chat.conversation_sid}
    assert post_signed(stack, "/studio/track-task", fields, sign=False).status_code == 403
    response = post_signed(stack, "/studio/track-task", fields)
    assert response.status_code == 200
    assert response.json()["conversationSid"] == chat.conversation_sid
    wait_for(lambda: task in stack.tracked(chat.conversation_sid)["tasks"], what="the Studio-tracked task")

    unknown = "CH" + "0" * 32
    refused = post_signed(stack, "/studio/track-task", {"taskSid": task, "conversationSid": unknown})
    assert refused.status_code == 404 and refused.json()["field"] == "conversationSid"
    assert stack.tracked(unknown) == {}
    malformed = post_signed(stack, "/studio/track-task", {"taskSid": "WT1", "conversationSid": unknown})
    assert malformed.status_code == 400 and malformed.json()["field"] == "taskSid"


def test_a_late_task_created_after_completion_does_not_reopen_the_task(stack):
    sb = stack.sandbox
    chat = sb.start_chat("hugo")
    agent = accept_first_offer(stack, chat.task_sid)
    assert agent
    finish(stack, chat.task_sid)
    wait_for(lambda: sb.conversation(chat.conversation_sid)["state"] == "closed", what="the chat ended")
    created = next(
        e
        for e in sb.deliveries(kind="taskrouter", event_type="task.created")
        if e.fields["TaskSid"] == chat.task_sid
    )
    late = {**created.fields, "Sid": "EV" + "f" * 32}  # the same event, redelivered late under a new id
    handled = int(stack.redis.hget("cft:stats:events", "task.created") or 0)
    assert post_signed(stack, "/webhooks/taskrouter", late).status_code == 204
    wait_for(
        lambda: int(stack.redis.hget("cft:stats:events", "task.created") or 0) == handled + 1,
        what="the late task.created handled",
    )
    sb.wait_idle()
    state = stack.tracked(chat.conversation_sid)
    assert state["tasks"][chat.task_sid]["status"] == "closed"
    assert state["ended"] == "ended"
    assert kinds(stack, chat.conversation_sid).count("chat-ended") == 1


def test_inspect_shows_an_operator_what_is_tracked_for_a_chat(stack):
    import subprocess
    import sys

    sb = stack.sandbox
    conversation, task_a, task_b, agent_a, _agent_b = chat_with_two_agents(stack)
    finish(stack, task_b)
    wait_for(lambda: stack.tracked(conversation)["tasks"][task_b]["status"] == "closed", what="B closed")

    def inspect(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops.cli", "inspect", conversation, *flags],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    view = json.loads(inspect("--json").stdout)
    assert view["state"] == "open: 1 task(s) in flight"
    assert view["tasks"][task_a]["status"] == "inflight" and view["tasks"][task_b]["status"] == "closed"
    assert [a["workerSid"] for a in view["agentsInChat"]] == [stack.setup.workers[agent_a]]
    text = inspect().stdout
    assert conversation in text and "in flight" in text

    finish(stack, task_a)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", what="the chat ended")
    ended = json.loads(inspect("--json").stdout)
    assert ended["state"].startswith("ended (")
    assert ended["pendingWork"] == []
    missing = subprocess.run(
        [sys.executable, "-m", "ops.cli", "inspect", "CH" + "9" * 32],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "not tracked" in missing.stdout
