"""The agent's real actions on a chat (issue 15, part 1): End chat ends it for everybody, Leave
keeps it open for the others, and a task wrapped or completed by a REST call on TaskRouter leaves
the chat alone. Driven through the twilio library over HTTP, every answer checked against the
description."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import invite_routing, transfer_task, twilio_client
from .described import assert_described


def warm_interaction_chat(sb, flex):
    """alice took an interaction chat and invited bob (who accepted); returns (chat, bob's WT)."""
    chat = sb.start_chat("nora", interactions=True)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    channel = (
        twilio_client(sb).flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    )
    invite = channel.invites.create(
        routing=invite_routing(flex, transferTargetType="worker", transferTargetSid=flex.workers["bob"])
    )
    bob_task = invite.routing["properties"]["sid"]
    sb.accept_task(bob_task, flex.workers["bob"])
    return chat, bob_task


def warm_older_chat(sb, flex):
    """alice took an older chat (plain task naming the conversation) and a plain transfer task
    for bob was accepted; returns (chat, bob's WT)."""
    chat = sb.start_chat("otto")
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    bob_task = transfer_task(sb, flex, chat.conversation_sid, "bob")
    sb.accept_task(bob_task, flex.workers["bob"])
    return chat, bob_task


def identities(sb, conversation_sid):
    return {p["identity"] for p in sb.participants(conversation_sid)}


# ---------------------------------------------------------- REST wrap-up / complete
@pytest.mark.parametrize("interactions", [False, True])
def test_a_task_wrapped_and_completed_by_rest_leaves_the_chat_alone(sb, flex, receiver, interactions):
    sb.set_conversations_webhook(receiver.url + "/conv")
    chat = sb.start_chat("pia", interactions=interactions)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    assert sb.wait_idle()
    receiver.received.clear()
    task = twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).tasks(chat.task_sid)
    task.update(assignment_status="wrapping")
    task.update(assignment_status="completed", reason="done")
    assert sb.wait_idle()
    assert receiver.received == []  # nobody left, nothing closed
    assert identities(sb, chat.conversation_sid) == {"pia", "alice"}
    assert sb.conversation(chat.conversation_sid)["state"] == "active"
    if interactions:
        parts = (
            twilio_client(sb)
            .flex_api.v1.interaction(chat.interaction_sid)
            .channels(chat.interaction_channel_sid)
            .participants.list()
        )
        assert sorted(p.type for p in parts) == ["agent", "customer"]
        assert [m["what"] for m in sb.interaction_misuses] == ["wrapping", "completed"]
    else:
        assert sb.interaction_misuses == []
    assert_described(sb)


# ---------------------------------------------------------------------- End chat
def test_end_chat_on_an_interaction_closes_it_for_everybody(sb, flex, receiver):
    chat, bob_task = warm_interaction_chat(sb, flex)
    channel = (
        twilio_client(sb).flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    )
    pending = channel.invites.create(
        routing=invite_routing(flex, transferTargetType="queue", transferQueueName="Support")
    ).routing["properties"]["sid"]
    assert sb.task_status(pending) == "reserved"  # offered to bob, not yet accepted
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.set_event_callback(receiver.url + "/tr")
    sb.agent_end_chat(chat.task_sid)
    assert sb.wait_idle()
    assert sb.task_status(chat.task_sid) == "wrapping"
    assert sb.task_status(bob_task) == "wrapping"
    assert sb.task_status(pending) == "canceled"
    client = twilio_client(sb)
    assert client.conversations.v1.conversations(chat.conversation_sid).fetch().state == "closed"
    assert channel.fetch().status == "closed"
    with pytest.raises(TwilioRestException) as closed:
        client.conversations.v1.conversations(chat.conversation_sid).messages.create(author="bob", body="hi?")
    assert closed.value.code == 50377
    tr = [(r.form["EventType"], r.form.get("TaskSid")) for r in receiver.received if r.path == "/tr"]
    assert [e for e in tr if e[0].startswith("task.")] == [
        ("task.wrapup", chat.task_sid),
        ("task.wrapup", bob_task),
        ("task.canceled", pending),
    ]
    canceled = next(r.form for r in receiver.received if r.form.get("EventType") == "task.canceled")
    assert canceled["TaskCanceledReason"] == "Interaction channel closed"
    conv = [r.form for r in receiver.received if r.path == "/conv"]
    assert [f["EventType"] for f in conv] == ["onConversationUpdated", "onConversationStateUpdated"]
    assert conv[1]["StateTo"] == "closed" and conv[0]["Source"] == "API"
    sb.complete(chat.task_sid)
    assert_described(sb)


def test_end_chat_on_an_older_chat_closes_the_conversation_for_the_other_agent_too(sb, flex, receiver):
    chat, bob_task = warm_older_chat(sb, flex)
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.agent_end_chat(bob_task)
    assert sb.wait_idle()
    assert sb.task_status(bob_task) == "wrapping"
    assert sb.task_status(chat.task_sid) == "assigned"  # TaskRouter is not told
    assert twilio_client(sb).conversations.v1.conversations(chat.conversation_sid).fetch().state == "closed"
    forms = [r.form for r in receiver.received]
    assert [f["EventType"] for f in forms] == ["onConversationUpdated", "onConversationStateUpdated"]
    assert forms[0]["Source"] == "SDK" and forms[0]["ClientIdentity"] == "bob"
    with pytest.raises(TwilioRestException) as closed:
        twilio_client(sb).conversations.v1.conversations(chat.conversation_sid).messages.create(body="x")
    assert closed.value.code == 50377
    assert_described(sb)


# ------------------------------------------------------------------------- Leave
@pytest.mark.parametrize("status", ["closed", "wrapup"])
def test_leave_on_an_interaction_keeps_the_chat_open(sb, flex, receiver, status):
    chat, bob_task = warm_interaction_chat(sb, flex)
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.agent_leave(bob_task, status=status)
    assert sb.wait_idle()
    assert sb.task_status(bob_task) == ("completed" if status == "closed" else "wrapping")
    assert sb.task_status(chat.task_sid) == "assigned"
    assert identities(sb, chat.conversation_sid) == {"nora", "alice"}
    client = twilio_client(sb)
    assert client.conversations.v1.conversations(chat.conversation_sid).fetch().state == "active"
    channel = client.flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    assert channel.fetch().status == "active"
    agents = {p.routing_properties["task_sid"] for p in channel.participants.list() if p.type == "agent"}
    assert agents == ({chat.task_sid} if status == "closed" else {chat.task_sid, bob_task})
    [removed] = [r.form for r in receiver.received]
    assert removed["EventType"] == "onParticipantRemoved" and removed["Identity"] == "bob"
    client.conversations.v1.conversations(chat.conversation_sid).messages.create(
        author="alice", body="still here"
    )
    assert_described(sb)


def test_the_same_leave_through_the_interactions_api(sb, flex):
    chat, bob_task = warm_interaction_chat(sb, flex)
    channel = (
        twilio_client(sb).flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    )
    [bob] = [
        p
        for p in channel.participants.list()
        if p.routing_properties and p.routing_properties["task_sid"] == bob_task
    ]
    channel.participants(bob.sid).update(status="wrapup")
    assert sb.task_status(bob_task) == "wrapping" and "bob" not in identities(sb, chat.conversation_sid)
    channel.participants(bob.sid).update(status="closed")
    assert sb.task_status(bob_task) == "completed"
    assert [p.type for p in channel.participants.list()].count("agent") == 1
    assert sb.interaction_misuses == []
    assert_described(sb)


def test_leave_on_an_older_chat_wraps_up_and_takes_the_agent_out(sb, flex, receiver):
    chat, bob_task = warm_older_chat(sb, flex)
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.agent_leave(bob_task)
    assert sb.wait_idle()
    assert sb.task_status(bob_task) == "wrapping" and sb.task_status(chat.task_sid) == "assigned"
    assert identities(sb, chat.conversation_sid) == {"otto", "alice"}
    assert sb.conversation(chat.conversation_sid)["state"] == "active"
    [removed] = [r.form for r in receiver.received]
    assert removed["EventType"] == "onParticipantRemoved" and removed["ClientIdentity"] == "bob"
    assert_described(sb)


def test_closing_a_closed_channel_again_changes_nothing(sb, flex):
    chat, bob_task = warm_interaction_chat(sb, flex)
    sb.agent_end_chat(chat.task_sid)
    channel = (
        twilio_client(sb).flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    )
    assert channel.update(status="closed").status == "closed"
    assert sb.task_status(bob_task) == "wrapping"
    assert_described(sb)
