"""TaskRouter event callbacks and Conversations post-event webhooks: fields, signatures,
idempotency tokens, the X-Twilio-Webhook-Enabled rule, Flex orchestration."""

import json

from twilio.request_validator import RequestValidator

from sandbox import Sandbox

from .conftest import transfer_task, twilio_client


def valid(sb, rec):
    sig = rec.headers.get("X-Twilio-Signature")
    return RequestValidator(sb.auth_token).validate(rec.url, rec.form, sig)


def test_taskrouter_events_are_signed_and_complete(sb, flex, receiver):
    sb.set_event_callback(receiver.url + "/webhooks/taskrouter")
    chat = sb.start_chat("ann")
    sb.accept_task(chat.task_sid)
    sb.wrapup(chat.task_sid)
    sb.complete(chat.task_sid)
    assert sb.wait_idle()
    got = receiver.received
    types = [r.form["EventType"] for r in got]
    for expected in [
        "task.created",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
        "reservation.wrapup",
        "task.wrapup",
        "reservation.completed",
        "task.completed",
    ]:
        assert expected in types
    assert (
        types.index("task.created") < types.index("reservation.created") < types.index("reservation.accepted")
    )
    assert types.index("reservation.accepted") < types.index("task.wrapup") < types.index("task.completed")
    assert all(valid(sb, r) for r in got)
    created = next(r.form for r in got if r.form["EventType"] == "task.created")
    assert created["TaskQueueName"] == "Everyone" and created["TaskAssignmentStatus"] == "pending"
    accepted = next(r.form for r in got if r.form["EventType"] == "reservation.accepted")
    assert accepted["Sid"].startswith("EV") and accepted["AccountSid"] == sb.account_sid
    assert (
        accepted["WorkspaceSid"] == flex.workspace_sid and accepted["WorkspaceName"] == "Flex Task Assignment"
    )
    assert accepted["ResourceType"] == "reservation" and accepted["ResourceSid"] == accepted["ReservationSid"]
    assert accepted["TaskSid"] == chat.task_sid and accepted["TaskAssignmentStatus"] == "assigned"
    assert json.loads(accepted["TaskAttributes"])["conversationSid"] == chat.conversation_sid
    assert accepted["TaskChannelUniqueName"] == "chat" and accepted["TaskQueueName"] == "Everyone"
    assert accepted["WorkerSid"] == flex.workers["alice"] and accepted["WorkerName"] == "alice"
    assert json.loads(accepted["WorkerAttributes"])["contact_uri"] == "client:alice"
    assert accepted["WorkflowName"] == "Assign to Anyone" and accepted["Timestamp"].isdigit()
    assert "I-Twilio-Idempotency-Token" in got[0].headers
    assert len({r.form["Sid"] for r in got}) == len(got)
    assert all(d.status == 204 for d in sb.deliveries(kind="taskrouter"))


def test_events_filter(sb, flex, receiver):
    sb.set_event_callback(receiver.url + "/tr", events_filter="task.created,task.canceled")
    chat = sb.start_chat("bo")
    sb.cancel_task(chat.task_sid, "customer left")
    assert sb.wait_idle()
    assert receiver.events() == ["task.created", "task.canceled"]
    assert receiver.received[1].form["TaskCanceledReason"] == "customer left"


def test_rest_changes_fire_conversation_webhooks_only_when_enabled(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv")
    chat = sb.start_chat("cy", first_message=None)
    assert sb.wait_idle()
    receiver.received.clear()
    client = twilio_client(sb)
    conv = client.conversations.v1.conversations(chat.conversation_sid)
    conv.messages.create(author="system", body="quiet")
    conv.update(attributes=json.dumps({"a": 1}))
    conv.participants.create(identity="ghost")
    assert sb.wait_idle()
    assert receiver.received == []
    conv.messages.create(author="system", body="loud", x_twilio_webhook_enabled="true")
    assert sb.wait_idle()
    [rec] = receiver.received
    assert rec.form["EventType"] == "onMessageAdded" and rec.form["Body"] == "loud"
    assert rec.form["Source"] == "API" and rec.form["Author"] == "system" and rec.form["Index"] == "1"
    assert rec.form["ConversationSid"] == chat.conversation_sid
    assert rec.form["ChatServiceSid"] == flex.chat_service_sid and rec.form["RetryCount"] == "0"
    assert rec.headers["I-Twilio-Idempotency-Token"]
    assert valid(sb, rec)


def test_customer_and_agent_actions_fire_webhooks(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv")
    chat = sb.start_chat("dee", first_message="hello")
    sb.accept_task(chat.task_sid)
    sb.agent_message(chat.conversation_sid, flex.workers["alice"], "Hi Dee")
    sb.agent_leave(chat.task_sid)
    sb.close_conversation(chat.conversation_sid)
    assert sb.wait_idle()
    events = receiver.events()
    assert events == [
        "onConversationAdded",
        "onParticipantAdded",  # the customer
        "onMessageAdded",
        "onParticipantAdded",  # alice, added by Flex on accept
        "onMessageAdded",
        "onParticipantRemoved",  # alice leaves (Flex UI: wrap-up, then LeaveConversation)
        "onConversationUpdated",
        "onConversationStateUpdated",
    ]
    forms = [r.form for r in receiver.received]
    assert forms[2]["Source"] == "SDK" and forms[2]["ClientIdentity"] == "dee" and forms[2]["Author"] == "dee"
    assert forms[3]["Identity"] == "alice" and forms[3]["ParticipantSid"].startswith("MB")
    assert forms[4]["Author"] == "alice" and forms[4]["ParticipantSid"] == forms[3]["ParticipantSid"]
    assert forms[5]["Identity"] == "alice" and forms[5]["ClientIdentity"] == "alice"
    assert (
        forms[7]["StateFrom"] == "active" and forms[7]["StateTo"] == "closed" and forms[7]["Reason"] == "API"
    )
    assert all(valid(sb, r) for r in receiver.received)
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in receiver.received]
    assert len(set(tokens)) == len(tokens)


def test_orchestration_can_be_switched_off(receiver):
    with Sandbox(seed=4, flex_orchestration=False) as sb:
        sb.seed_flex(workers=[{"name": "alice"}], conversations_webhook_url=receiver.url + "/conv")
        chat = sb.start_chat("eli", first_message=None)
        sb.accept_task(chat.task_sid)
        sb.wrapup(chat.task_sid)
        assert sb.wait_idle()
        assert "alice" not in {p["identity"] for p in sb.participants(chat.conversation_sid)}
        assert receiver.events() == ["onConversationAdded", "onParticipantAdded"]


def test_warm_transfer_keeps_the_first_agent_until_they_leave(sb, flex, receiver):
    chat = sb.start_chat("flo")
    sb.accept_task(chat.task_sid)
    t = transfer_task(sb, flex, chat.conversation_sid, "bob")
    sb.accept_task(t)
    assert {p["identity"] for p in sb.participants(chat.conversation_sid)} == {"flo", "alice", "bob"}
    sb.wrapup(chat.task_sid)  # a TaskRouter wrap-up (REST) leaves the chat alone
    assert {p["identity"] for p in sb.participants(chat.conversation_sid)} == {"flo", "alice", "bob"}
    sb.agent_leave(t)
    assert {p["identity"] for p in sb.participants(chat.conversation_sid)} == {"flo", "alice"}
    assert sb.task_status(t) == "wrapping" and sb.conversation(chat.conversation_sid)["state"] == "active"


def test_service_webhook_overrides_global_and_filters_apply(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/global")
    sb.set_conversations_webhook(
        receiver.url + "/service", filters=["onMessageAdded"], service_sid=flex.chat_service_sid
    )
    chat = sb.start_chat("gil", first_message="one")
    sb.customer_message(chat.conversation_sid, "two")
    assert sb.wait_idle()
    assert [r.path for r in receiver.received] == ["/service", "/service"]
    assert receiver.events() == ["onMessageAdded", "onMessageAdded"]


def test_get_method_webhooks_are_signed_over_the_query(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv?x=1", filters=["onMessageAdded"], method="GET")
    chat = sb.start_chat("hue", first_message="hey")
    assert sb.wait_idle()
    [rec] = receiver.received
    assert rec.method == "GET" and rec.query["Body"] == "hey"
    assert RequestValidator(sb.auth_token).validate(rec.url, {}, rec.headers["X-Twilio-Signature"])
    assert chat


def test_a_503_is_not_retried_unless_the_url_says_so(sb, flex, receiver):
    receiver.status = 503
    sb.set_conversations_webhook(receiver.url + "/plain", filters=["onMessageAdded"])
    sb.start_chat("ivy", first_message="hi")
    assert sb.wait_idle()
    sb.set_conversations_webhook(receiver.url + "/count-only#rc=3", filters=["onMessageAdded"])
    sb.start_chat("ivo", first_message="hi")
    assert sb.wait_idle()
    assert [[a.status for a in d.attempts] for d in sb.deliveries(kind="conversations")] == [[503], [503]]
    assert [r.path for r in receiver.received] == ["/plain", "/count-only"]


def test_connection_overrides_retry_a_503_with_the_same_token(sb, flex, receiver):
    receiver.status = 503
    sb.set_conversations_webhook(receiver.url + "/conv#rc=2&rp=5xx&ct=1000", filters=["onMessageAdded"])
    sb.start_chat("ivy", first_message="hi")
    assert sb.wait_idle()
    [d] = sb.deliveries(kind="conversations")
    assert [a.status for a in d.attempts] == [503, 503, 503] and not d.delivered
    assert [r.form["RetryCount"] for r in receiver.received] == ["0", "1", "2"]
    assert len({r.headers["I-Twilio-Idempotency-Token"] for r in receiver.received}) == 1
    assert all(r.url == receiver.url + "/conv" for r in receiver.received)  # the fragment is not sent
    assert all(valid(sb, r) for r in receiver.received)  # signed over the URL without it


def test_a_connection_failure_is_retried_once_by_default(sb, flex):
    sb.set_conversations_webhook("http://127.0.0.1:9/nothing-listens-here", filters=["onMessageAdded"])
    sb.start_chat("ike", first_message="hi")
    assert sb.wait_idle()
    [d] = sb.deliveries(kind="conversations")
    assert [(a.status, a.retry_count) for a in d.attempts] == [(None, 0), (None, 1)]


def test_the_taskrouter_callback_is_never_retried(sb, flex, receiver):
    receiver.status = 503
    sb.set_event_callback(receiver.url + "/tr#rc=5&rp=all", events_filter="task.created")
    sb.start_chat("ina")
    assert sb.wait_idle()
    [d] = sb.deliveries(kind="taskrouter")
    assert [a.status for a in d.attempts] == [503]


def test_a_conversation_closed_by_rest_sends_no_webhook_without_the_header(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv")
    quiet, loud = sb.start_chat("ola", first_message=None), sb.start_chat("ole", first_message=None)
    assert sb.wait_idle()
    receiver.received.clear()
    conversations = twilio_client(sb).conversations.v1.conversations
    conversations(quiet.conversation_sid).update(state="closed")
    conversations(loud.conversation_sid).update(state="closed", x_twilio_webhook_enabled="true")
    assert sb.wait_idle()
    assert sb.conversation(quiet.conversation_sid)["state"] == "closed"
    assert [(r.form["EventType"], r.form["ConversationSid"]) for r in receiver.received] == [
        ("onConversationUpdated", loud.conversation_sid),
        ("onConversationStateUpdated", loud.conversation_sid),
    ]


def test_unreachable_callback_is_recorded(sb, flex):
    sb.set_event_callback("http://127.0.0.1:9/nothing-listens-here")
    sb.start_chat("jay")
    assert sb.wait_idle()
    d = sb.deliveries(kind="taskrouter")[0]
    assert d.status is None and d.attempts[0].error


def test_conversation_timers(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv", filters=["onConversationStateUpdated"])
    client = twilio_client(sb)
    conv = client.conversations.v1.conversations.create(timers_inactive="PT1M", timers_closed="PT10M")
    assert conv.timers["date_inactive"]
    sb.advance(61)
    assert sb.conversation(conv.sid)["state"] == "inactive"
    sb.customer_message(conv.sid, "back", identity="kim")
    assert sb.conversation(conv.sid)["state"] == "active"
    sb.advance(601)
    assert sb.conversation(conv.sid)["state"] == "closed"
    assert sb.wait_idle()
    states = [(r.form["StateFrom"], r.form["StateTo"], r.form["Reason"]) for r in receiver.received]
    assert states == [
        ("active", "inactive", "TIMER"),
        ("inactive", "active", "EVENT"),
        ("active", "closed", "TIMER"),
    ]
