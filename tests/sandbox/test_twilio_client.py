"""The official twilio library, over real HTTP, against the sandbox: every call the
service makes works and its answer parses."""

import json

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import invite_routing, twilio_client


def test_workspace_fetch_and_update(sb, flex, client):
    ws = client.taskrouter.v1.workspaces(flex.workspace_sid)
    fetched = ws.fetch()
    assert fetched.sid == flex.workspace_sid
    assert fetched.friendly_name == "Flex Task Assignment"
    assert fetched.default_activity_name == "Offline"
    updated = ws.update(
        event_callback_url="https://example.com/tr", events_filter="task.created,task.canceled"
    )
    assert updated.event_callback_url == "https://example.com/tr"
    assert updated.events_filter == "task.created,task.canceled"
    assert fetched.date_created is not None and fetched.date_created.year >= 2024
    sb.assert_faithful()


def test_queues_workers_activities_channels(sb, flex, client):
    ws = client.taskrouter.v1.workspaces(flex.workspace_sid)
    queues = {q.friendly_name: q for q in ws.task_queues.list()}
    assert set(queues) == {"Everyone", "Sales", "Support"}
    assert queues["Sales"].target_workers == "routing.skills HAS 'sales'"
    assert [q.friendly_name for q in ws.task_queues.list(friendly_name="Sales")] == ["Sales"]
    workers = {w.friendly_name: w for w in ws.workers.list()}
    assert json.loads(workers["alice"].attributes)["contact_uri"] == "client:alice"
    assert workers["alice"].available is True and workers["carol"].available is False
    assert {
        w.friendly_name for w in ws.workers.list(target_workers_expression="routing.skills HAS 'support'")
    } == {
        "bob",
        "carol",
    }
    assert {a.friendly_name for a in ws.activities.list()} >= {"Available", "Offline", "Unavailable"}
    assert {c.unique_name for c in ws.task_channels.list()} >= {"default", "voice", "chat"}
    chat = ws.workers(flex.workers["alice"]).worker_channels("chat").fetch()
    assert chat.configured_capacity == 2 and chat.task_channel_unique_name == "chat"
    chat = ws.workers(flex.workers["alice"]).worker_channels(chat.sid).update(capacity=3)
    assert chat.configured_capacity == 3
    offline = flex.activities["Offline"]
    w = ws.workers(flex.workers["bob"]).update(activity_sid=offline)
    assert w.activity_name == "Offline" and w.available is False
    sb.assert_faithful()


def test_workflows_list_create_update(sb, flex, client):
    ws = client.taskrouter.v1.workspaces(flex.workspace_sid)
    names = [w.friendly_name for w in ws.workflows.list()]
    assert names == ["Assign to Anyone", "Chat Transfer"]
    transfer = ws.workflows(flex.chat_transfer_workflow_sid).fetch()
    config = json.loads(transfer.configuration)
    assert config["task_routing"]["filters"][0]["targets"][0]["known_worker_sid"] == "task.transferTargetSid"
    cfg = {"task_routing": {"filters": [], "default_filter": {"queue": flex.queues["Sales"]}}}
    created = ws.workflows.create(
        friendly_name="Sales only", configuration=json.dumps(cfg), task_reservation_timeout=30
    )
    assert created.task_reservation_timeout == 30 and created.sid.startswith("WW")
    cfg["task_routing"]["default_filter"]["queue"] = flex.queues["Support"]
    updated = ws.workflows(created.sid).update(configuration=json.dumps(cfg), friendly_name="Support only")
    assert updated.friendly_name == "Support only"
    assert (
        json.loads(updated.configuration)["task_routing"]["default_filter"]["queue"] == flex.queues["Support"]
    )
    with pytest.raises(TwilioRestException) as err:
        ws.workflows.create(
            friendly_name="bad",
            configuration=json.dumps(
                {
                    "task_routing": {
                        "filters": [{"expression": "a ==", "targets": [{"queue": flex.queues["Sales"]}]}]
                    }
                }
            ),
        )
    assert err.value.status == 400
    sb.assert_faithful()


def test_task_create_fetch_etag_update_if_match(sb, flex, client):
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    attrs = {"conversationSid": "CH" + "0" * 32, "channelType": "web", "name": "dana"}
    task = tasks.create(
        workflow_sid=flex.assign_to_anyone_workflow_sid,
        task_channel="chat",
        attributes=json.dumps(attrs),
        priority=5,
        timeout=3600,
    )
    assert task.sid.startswith("WT") and task.priority == 5 and task.timeout == 3600
    assert task.task_channel_unique_name == "chat"
    assert task.assignment_status == "reserved"  # alice is available
    info = tasks(task.sid).fetch_with_http_info()
    assert info.status_code == 200
    etag = info.headers["ETag"]
    assert info.data.sid == task.sid
    new_attrs = {**attrs, "chatTransferData": {"transferTaskSid": "WT" + "1" * 32, "transferType": "WARM"}}
    updated = tasks(task.sid).update_with_http_info(if_match=etag, attributes=json.dumps(new_attrs))
    assert json.loads(updated.data.attributes)["chatTransferData"]["transferType"] == "WARM"
    assert updated.headers["ETag"] != etag
    with pytest.raises(TwilioRestException) as err:
        tasks(task.sid).update(if_match=etag, attributes=json.dumps(attrs))
    assert err.value.status == 412 and err.value.code == 20412
    assert json.loads(tasks(task.sid).fetch().attributes) == new_attrs
    sb.assert_faithful()


def test_task_lifecycle_rules(sb, flex, client):
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    task = tasks.create(workflow_sid=flex.assign_to_anyone_workflow_sid, task_channel="chat", attributes="{}")
    with pytest.raises(TwilioRestException) as err:
        tasks(task.sid).update(assignment_status="wrapping")
    assert err.value.status == 400
    res = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks(task.sid).reservations.list()
    assert len(res) == 1 and res[0].reservation_status == "pending"
    accepted = tasks(task.sid).reservations(res[0].sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert tasks(task.sid).fetch().assignment_status == "assigned"
    with pytest.raises(TwilioRestException):
        tasks(task.sid).update(assignment_status="canceled", reason="no")
    assert tasks(task.sid).update(assignment_status="wrapping").assignment_status == "wrapping"
    done = tasks(task.sid).update(assignment_status="completed", reason="resolved")
    assert done.assignment_status == "completed" and done.reason == "resolved"
    assert tasks(task.sid).reservations(res[0].sid).fetch().reservation_status == "completed"
    other = tasks.create(
        workflow_sid=flex.assign_to_anyone_workflow_sid, task_channel="chat", attributes="{}"
    )
    canceled = tasks(other.sid).update(assignment_status="canceled", reason="customer left")
    assert canceled.assignment_status == "canceled" and canceled.reason == "customer left"
    assert tasks(other.sid).delete() is True
    with pytest.raises(TwilioRestException) as err:
        tasks(other.sid).fetch()
    assert err.value.status == 404 and err.value.code == 20404
    sb.assert_faithful()


def test_task_list_filters_and_paging(sb, flex, client):
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    sb.set_activity(flex.workers["alice"], "Offline")
    sb.set_activity(flex.workers["bob"], "Offline")
    made = [
        tasks.create(
            workflow_sid=flex.assign_to_anyone_workflow_sid,
            task_channel="chat",
            attributes=json.dumps({"conversationSid": f"CH{i:032d}", "n": i}),
            priority=i % 3,
        )
        for i in range(7)
    ]
    assert len(tasks.list(assignment_status=["pending", "reserved"])) == 7
    assert len(tasks.list(assignment_status=["assigned"])) == 0
    one = tasks.list(evaluate_task_attributes=f"conversationSid == '{'CH' + f'{3:032d}'}'")
    assert [t.sid for t in one] == [made[3].sid]
    assert len(tasks.list(page_size=2)) == 7  # the library follows next_page_url through the sandbox
    page = tasks.page(page_size=3)
    assert len(list(page)) == 3 and page.next_page_url
    ordered = tasks.list(ordering="Priority:desc")
    assert [t.priority for t in ordered] == sorted((t.priority for t in made), reverse=True)
    assert {t.sid for t in tasks.list(workflow_sid=flex.assign_to_anyone_workflow_sid)} == {
        t.sid for t in made
    }
    assert {t.sid for t in tasks.list(task_queue_sid=flex.queues["Everyone"])} == {t.sid for t in made}
    sb.assert_faithful()


def test_worker_reservations(sb, flex, client):
    chat = sb.start_chat("erin")
    ws = client.taskrouter.v1.workspaces(flex.workspace_sid)
    res = ws.workers(flex.workers["alice"]).reservations.list(reservation_status="pending")
    assert [r.task_sid for r in res] == [chat.task_sid]
    r = ws.workers(flex.workers["alice"]).reservations(res[0].sid).update(reservation_status="accepted")
    assert r.reservation_status == "accepted" and r.worker_name == "alice"
    assert ws.workers(flex.workers["alice"]).reservations(res[0].sid).fetch().task_sid == chat.task_sid
    sb.assert_faithful()


def test_conversations_messages_participants(sb, flex, client):
    chat = sb.start_chat("fred", first_message="Hi there")
    conv = client.conversations.v1.conversations(chat.conversation_sid)
    fetched = conv.fetch()
    assert fetched.state == "active" and fetched.chat_service_sid == flex.chat_service_sid
    attrs = {"associatedTasks": {chat.task_sid: "inflight"}}
    assert json.loads(conv.update(attributes=json.dumps(attrs)).attributes) == attrs
    msg = conv.messages.create(
        author="system",
        body="Alice joined",
        attributes=json.dumps({"notification": True, "notificationType": "joined", "workerName": "Alice"}),
    )
    assert msg.index == 1 and msg.author == "system" and msg.sid.startswith("IM")
    assert [m.body for m in conv.messages.list()] == ["Hi there", "Alice joined"]
    assert [m.body for m in conv.messages.list(order="desc")] == ["Alice joined", "Hi there"]
    p = conv.participants.create(identity="supervisor1", attributes=json.dumps({"member_type": "supervisor"}))
    assert p.identity == "supervisor1"
    sms = conv.participants.create(
        messaging_binding_address="+15558675310", messaging_binding_proxy_address="+15017122661"
    )
    assert sms.messaging_binding == {
        "type": "sms",
        "address": "+15558675310",
        "proxy_address": "+15017122661",
    }
    assert {x.identity for x in conv.participants.list()} == {"fred", "supervisor1", None}
    assert conv.participants(p.sid).delete() is True
    closed = conv.update(state="closed")
    assert closed.state == "closed"
    with pytest.raises(TwilioRestException) as err:
        conv.messages.create(author="system", body="too late")
    assert err.value.code == 50377
    for closed_change in (
        lambda: conv.participants(sms.sid).delete(),
        lambda: conv.update(state="active"),
        lambda: conv.participants.create(identity="late"),
    ):
        with pytest.raises(TwilioRestException) as err:
            closed_change()
        assert err.value.code == 50377
    # the service-scoped paths reach the same conversation
    svc = client.conversations.v1.services(flex.chat_service_sid).conversations(chat.conversation_sid)
    assert svc.fetch().state == "closed" and len(svc.messages.list()) == 2
    created = client.conversations.v1.conversations.create(friendly_name="x", unique_name="uniq-1")
    assert client.conversations.v1.conversations("uniq-1").fetch().sid == created.sid
    sb.assert_faithful()


def test_webhook_configuration(sb, flex, client):
    cfg = client.conversations.v1.configuration.webhooks().update(
        post_webhook_url="https://example.com/conv",
        filters=["onParticipantAdded", "onMessageAdded"],
        method="POST",
        target="webhook",
    )
    assert cfg.post_webhook_url == "https://example.com/conv"
    assert cfg.filters == ["onParticipantAdded", "onMessageAdded"]
    svc_cfg = (
        client.conversations.v1.services(flex.chat_service_sid)
        .configuration.webhooks()
        .update(post_webhook_url="https://example.com/svc", filters=["onConversationStateUpdated"])
    )
    assert svc_cfg.post_webhook_url == "https://example.com/svc"
    assert client.conversations.v1.services(
        flex.chat_service_sid
    ).configuration.webhooks().fetch().filters == ["onConversationStateUpdated"]
    sb.assert_faithful()


def test_interactions_invites_participants(sb, flex, client):
    chat = sb.start_chat("gina", interactions=True)
    assert chat.interaction_sid.startswith("KD") and chat.interaction_channel_sid.startswith("UO")
    attrs = json.loads(sb.task(chat.task_sid)["attributes"])
    assert attrs["flexInteractionSid"] == chat.interaction_sid
    assert attrs["flexInteractionChannelSid"] == chat.interaction_channel_sid
    assert attrs["conversationSid"] == chat.conversation_sid
    inter = client.flex_api.v1.interaction(chat.interaction_sid).fetch()
    assert inter.channel["sid"] == chat.interaction_channel_sid
    sb.accept_task(chat.task_sid)
    channel = client.flex_api.v1.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
    assert channel.fetch().status == "active"
    parts = channel.participants.list()
    assert sorted(p.type for p in parts) == ["agent", "customer"]
    agent = next(p for p in parts if p.type == "agent")
    assert agent.routing_properties["task_sid"] == chat.task_sid
    invite = channel.invites.create(
        routing=invite_routing(
            flex, **attrs, transferTargetType="worker", transferTargetSid=flex.workers["bob"]
        )
    )
    assert invite.sid.startswith("KG")
    new_task = invite.routing["properties"]["sid"]
    assert json.loads(sb.task(new_task)["attributes"])["flexChannelInviteSid"] == invite.sid
    assert [i.sid for i in channel.invites.list()] == [invite.sid]
    sb.accept_task(new_task, flex.workers["bob"])
    updated = channel.participants(agent.sid).update(status="closed")
    assert updated.sid == agent.sid
    assert sb.task_status(chat.task_sid) == "completed"
    assert channel.update(status="closed").status == "closed"
    assert sb.task_status(new_task) == "wrapping"
    assert client.conversations.v1.conversations(chat.conversation_sid).fetch().state == "closed"
    created = client.flex_api.v1.interaction.create(
        channel={
            "type": "web",
            "initiated_by": "customer",
            "properties": {"media_channel_sid": sb.conversations.create().sid},
        },
        routing={
            "properties": {
                "workspace_sid": flex.workspace_sid,
                "workflow_sid": flex.assign_to_anyone_workflow_sid,
                "task_channel_unique_name": "chat",
                "attributes": {"name": "hal"},
            }
        },
    )
    assert created.routing["properties"]["sid"].startswith("WT")
    sb.assert_faithful()


def test_api_key_auth_and_bad_credentials(sb, flex):
    key, secret = sb.add_api_key()
    keyed = twilio_client(sb, key, secret)
    assert keyed.taskrouter.v1.workspaces(flex.workspace_sid).fetch().sid == flex.workspace_sid
    wrong = twilio_client(sb, sb.account_sid, "not-the-token")
    with pytest.raises(TwilioRestException) as err:
        wrong.taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert err.value.status == 401 and err.value.code == 20003
    assert sb.requests[-1].status == 401
