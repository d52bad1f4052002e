"""Flex Conversations chats change through Interactions (issue 15, part 3): an invite routes a new
task that carries the interaction and whose agent joins the chat; a plain TaskRouter task copying
the interaction's attributes joins nobody; interaction tasks changed through TaskRouter are
recorded; Transfers are not modelled. Over HTTP with the twilio library."""

from __future__ import annotations

import json

import requests

from .conftest import invite_routing, twilio_client
from .described import assert_described


def test_an_invite_routes_a_task_whose_agent_joins_the_chat(sb, flex, receiver):
    chat = sb.start_chat("vic", interactions=True)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    sb.set_conversations_webhook(receiver.url + "/conv", filters=["onParticipantAdded"])
    client = twilio_client(sb)
    channel = client.flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    invite = channel.invites.create(
        routing=invite_routing(flex, transferTargetType="worker", transferTargetSid=flex.workers["bob"])
    )
    props = invite.routing["properties"]
    assert invite.routing["reservation"] is None and props["sid"].startswith("WT")
    task = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks(props["sid"]).fetch()
    attrs = json.loads(task.attributes)
    assert attrs["flexInteractionSid"] == chat.interaction_sid
    assert attrs["flexInteractionChannelSid"] == chat.interaction_channel_sid
    assert attrs["conversationSid"] == chat.conversation_sid and attrs["flexChannelInviteSid"] == invite.sid
    assert attrs["transferTargetSid"] == flex.workers["bob"]
    assert "name" not in attrs  # an invite carries only the attributes it is given
    assert props["attributes"] == task.attributes and props["workflow_sid"] == flex.chat_transfer_workflow_sid
    sb.accept_task(props["sid"], flex.workers["bob"])
    assert sb.wait_idle()
    [added] = [r.form for r in receiver.received]
    assert added["Identity"] == "bob" and added["ConversationSid"] == chat.conversation_sid
    agents = [p.routing_properties for p in channel.participants.list() if p.type == "agent"]
    assert {a["worker_sid"] for a in agents} == {flex.workers["alice"], flex.workers["bob"]}
    assert_described(sb)


def test_a_plain_task_copying_the_interaction_attributes_joins_nobody(sb, flex, client, receiver):
    chat = sb.start_chat("wes", interactions=True)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    original = json.loads(sb.task(chat.task_sid)["attributes"])
    sb.set_conversations_webhook(receiver.url + "/conv")
    copy = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks.create(
        workflow_sid=flex.chat_transfer_workflow_sid,
        task_channel="chat",
        attributes=json.dumps(
            {**original, "transferTargetType": "worker", "transferTargetSid": flex.workers["bob"]}
        ),
    )
    sb.accept_task(copy.sid, flex.workers["bob"])
    assert sb.task_status(copy.sid) == "assigned"
    assert sb.wait_idle()
    assert receiver.received == []
    assert {p["identity"] for p in sb.participants(chat.conversation_sid)} == {"wes", "alice"}
    channel = client.flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    assert [p.routing_properties["task_sid"] for p in channel.participants.list() if p.type == "agent"] == [
        chat.task_sid
    ]
    assert_described(sb)


def test_interaction_tasks_changed_through_taskrouter_are_recorded(sb, flex, client):
    chat = sb.start_chat("xia", interactions=True)
    channel = client.flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    invite = channel.invites.create(
        routing=invite_routing(flex, transferTargetType="queue", transferQueueName="Sales")
    )
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    tasks(invite.routing["properties"]["sid"]).update(assignment_status="canceled", reason="nobody")
    tasks(chat.task_sid).delete()
    plain = sb.start_chat("yan")
    tasks(plain.task_sid).update(assignment_status="canceled")
    assert [(m["task_sid"], m["what"]) for m in sb.interaction_misuses] == [
        (invite.routing["properties"]["sid"], "canceled"),
        (chat.task_sid, "delete"),
    ]
    assert_described(sb)  # carried out: Twilio does not refuse them


def test_interaction_transfers_are_not_modelled(sb, flex):
    chat = sb.start_chat("zoe", interactions=True)
    resp = requests.post(
        f"{sb.base_url}/flex-api/v1/Interactions/{chat.interaction_sid}/Channels/"
        f"{chat.interaction_channel_sid}/Transfers",
        json={},
        auth=(sb.account_sid, sb.auth_token),
        timeout=10,
    )
    assert resp.status_code == 501 and resp.json()["code"] == 20501
    assert [u.template for u in sb.unmodelled] == [
        "/v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Transfers"
    ]
