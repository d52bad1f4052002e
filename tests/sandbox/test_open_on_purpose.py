"""Leave, Pause and Park keep a conversation open on purpose (issue 15, part 4), and what happens
when the customer writes again. Over HTTP with the twilio library."""

from __future__ import annotations

import json

from .conftest import twilio_client
from .described import assert_described


def taken(sb, flex, customer):
    chat = sb.start_chat(customer, interactions=True)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    return chat


def channel_of(sb, chat):
    return (
        twilio_client(sb).flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    )


def new_tasks(sb, chat, *known):
    return [
        t
        for t in sb.tasks(where=lambda a: a.get("flexInteractionChannelSid") == chat.interaction_channel_sid)
        if t["sid"] not in known
    ]


def test_flex_leave_keeps_the_chat_open_and_the_customer_reply_routes_a_new_task(sb, flex, receiver):
    chat = taken(sb, flex, "abe")
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.flex_leave(chat.task_sid)
    assert sb.task_status(chat.task_sid) == "wrapping"
    sb.complete(chat.task_sid)
    channel = channel_of(sb, chat)
    assert channel.fetch().status == "inactive"
    conv = twilio_client(sb).conversations.v1.conversations(chat.conversation_sid)
    assert conv.fetch().state == "inactive"
    assert {p.identity for p in conv.participants.list()} == {"abe"}
    assert new_tasks(sb, chat, chat.task_sid) == []
    sb.customer_message(chat.conversation_sid, "I'm back")
    [task] = new_tasks(sb, chat, chat.task_sid)
    attrs = json.loads(task["attributes"])
    assert attrs["conversationSid"] == chat.conversation_sid and attrs["name"] == "abe"
    assert task["workflow_sid"] == flex.assign_to_anyone_workflow_sid and task["routing_target"] is None
    assert channel.fetch().status == "active" and conv.fetch().state == "active"
    sb.accept_task(task["sid"], flex.workers["bob"])  # any agent
    assert {p.identity for p in conv.participants.list()} == {"abe", "bob"}
    assert sb.wait_idle()
    assert [r.form["EventType"] for r in receiver.received] == [
        "onParticipantRemoved",
        "onConversationUpdated",
        "onConversationStateUpdated",  # active -> inactive
        "onMessageAdded",
        "onConversationStateUpdated",  # inactive -> active
        "onParticipantAdded",
    ]
    assert_described(sb)


def test_the_rest_inactive_status_completes_the_tasks_and_keeps_the_chat_open(sb, flex):
    chat = taken(sb, flex, "bea")
    channel = channel_of(sb, chat)
    assert channel.update(status="inactive", routing={"status": "closed"}).status == "inactive"
    assert sb.task_status(chat.task_sid) == "completed"
    assert sb.conversation(chat.conversation_sid)["state"] == "inactive"
    sb.customer_message(chat.conversation_sid, "hello again")
    assert len(new_tasks(sb, chat, chat.task_sid)) == 1
    assert_described(sb)


def test_pause_releases_the_agent_and_resume_routes_a_new_task_to_them(sb, flex):
    chat = taken(sb, flex, "cal")
    sb.pause_chat(chat.task_sid)
    task = twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).tasks(chat.task_sid).fetch()
    assert task.assignment_status == "completed" and task.reason == "paused"
    channel = channel_of(sb, chat)
    assert channel.fetch().status == "pause"
    assert "alice" in {p["identity"] for p in sb.participants(chat.conversation_sid)}
    sb.customer_message(chat.conversation_sid, "any news?")
    assert new_tasks(sb, chat, chat.task_sid) == []  # a paused chat waits for its agent
    resumed = sb.resume(chat.conversation_sid)
    task = sb.task(resumed)
    assert task["routing_target"] == flex.workers["alice"]
    assert json.loads(task["attributes"])["flexInteractionChannelSid"] == chat.interaction_channel_sid
    assert channel.fetch().status == "active"
    sb.accept_task(resumed, flex.workers["alice"])
    assert sb.task_status(resumed) == "assigned"
    assert_described(sb)


def test_a_chat_paused_for_14_days_is_rerouted_to_the_queue(sb, flex):
    chat = taken(sb, flex, "dot")
    sb.pause_chat(chat.task_sid)
    sb.advance(14 * 24 * 3600 - 1)
    assert new_tasks(sb, chat, chat.task_sid) == []
    sb.advance(1)
    [task] = new_tasks(sb, chat, chat.task_sid)
    assert task["routing_target"] is None and task["workflow_sid"] == flex.assign_to_anyone_workflow_sid
    assert channel_of(sb, chat).fetch().status == "active"


def test_park_and_the_customer_reply_unparks_through_an_invite(sb, flex, receiver):
    chat = taken(sb, flex, "eve")
    sb.set_conversations_webhook(receiver.url + "/conv")
    sb.park(chat.task_sid)
    assert sb.task_status(chat.task_sid) == "completed"
    client = twilio_client(sb)
    conv = client.conversations.v1.conversations(chat.conversation_sid)
    parked = json.loads(conv.fetch().attributes)
    assert parked["taskSid"] == chat.task_sid and parked["workflowSid"] == flex.assign_to_anyone_workflow_sid
    assert conv.fetch().state == "active"
    channel = channel_of(sb, chat)
    assert channel.fetch().status == "active"
    assert [p.type for p in channel.participants.list()] == ["customer"]
    sb.customer_message(chat.conversation_sid, "ready now")
    [invite] = channel.invites.list()
    task = sb.task(invite.routing["properties"]["sid"])
    attrs = json.loads(task["attributes"])
    assert attrs["flexChannelInviteSid"] == invite.sid and attrs["name"] == "eve"
    assert attrs["originalRouting"]["workerSid"] == flex.workers["alice"]
    sb.customer_message(chat.conversation_sid, "hello?")
    assert len(channel.invites.list()) == 1  # unparked once
    assert sb.wait_idle()
    assert [r.form["EventType"] for r in receiver.received] == [
        "onParticipantRemoved",
        "onMessageAdded",
        "onMessageAdded",
    ]  # the attributes were updated by REST: no webhook
    assert_described(sb)


def test_an_agent_unparks_with_resume(sb, flex):
    chat = taken(sb, flex, "fay")
    sb.park(chat.task_sid)
    resumed = sb.resume(chat.conversation_sid)
    assert json.loads(sb.task(resumed)["attributes"])["flexChannelInviteSid"].startswith("KG")
