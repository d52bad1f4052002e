"""Fidelity: every kind of answer the sandbox gives validates against Twilio's OpenAPI
description (openapi-core) and has exactly the documented fields; every request it
receives is checked against the description, and what Twilio would reject is
answered as Twilio would and recorded."""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests

from sandbox import Sandbox
from sandbox.oai import HOSTS
from sandbox.rest import HANDLERS

from .described import ERROR_SCHEMA, answer_problems


class Api:
    def __init__(self, sb: Sandbox):
        self.sb = sb

    def __call__(self, method, product, path, expect=None, headers=None, **params):
        url = f"{self.sb.base_url}/{product}{path}"
        auth = (self.sb.account_sid, self.sb.auth_token)
        if method in ("GET", "DELETE"):
            resp = requests.request(method, url, params=params, auth=auth, headers=headers, timeout=10)
        else:
            resp = requests.request(method, url, data=params, auth=auth, headers=headers, timeout=10)
        if expect is not None:
            assert resp.status_code == expect, resp.text
        elif resp.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None


def tour(sb: Sandbox) -> None:
    """Drive every REST operation the sandbox models at least once."""
    api = Api(sb)
    flex = sb.seed_flex(
        queues={"Sales": "routing.skills HAS 'sales'"},
        workers=[{"name": "alice", "skills": ["sales"]}, {"name": "bob"}],
    )
    WS = f"/v1/Workspaces/{flex.workspace_sid}"
    # ---- TaskRouter
    other = api(
        "POST", "taskrouter", "/v1/Workspaces", FriendlyName="Tour", Template="FIFO", MultiTaskEnabled="true"
    )
    api("GET", "taskrouter", "/v1/Workspaces", PageSize=1)
    api("GET", "taskrouter", WS)
    api("POST", "taskrouter", WS, EventsFilter="task.created", PrioritizeQueueOrder="FIFO")
    act = api("POST", "taskrouter", f"{WS}/Activities", FriendlyName="Lunch", Available="false")
    api("GET", "taskrouter", f"{WS}/Activities", Available="true")
    api("GET", "taskrouter", f"{WS}/Activities/{act['sid']}")
    api("POST", "taskrouter", f"{WS}/Activities/{act['sid']}", FriendlyName="Late lunch")
    api("DELETE", "taskrouter", f"{WS}/Activities/{act['sid']}")
    ch = api("POST", "taskrouter", f"{WS}/TaskChannels", FriendlyName="Custom", UniqueName="custom")
    api("GET", "taskrouter", f"{WS}/TaskChannels")
    api("GET", "taskrouter", f"{WS}/TaskChannels/{ch['sid']}")
    api("POST", "taskrouter", f"{WS}/TaskChannels/{ch['sid']}", ChannelOptimizedRouting="true")
    api("DELETE", "taskrouter", f"{WS}/TaskChannels/{ch['sid']}")
    q = api(
        "POST",
        "taskrouter",
        f"{WS}/TaskQueues",
        FriendlyName="Temp",
        TargetWorkers="1==1",
        TaskOrder="LIFO",
        ReservationActivitySid=flex.activities["Available"],
    )
    api("GET", "taskrouter", f"{WS}/TaskQueues", WorkerSid=flex.workers["alice"])
    api("GET", "taskrouter", f"{WS}/TaskQueues/{q['sid']}")
    api("POST", "taskrouter", f"{WS}/TaskQueues/{q['sid']}", MaxReservedWorkers="2", TargetWorkers="2==2")
    api("DELETE", "taskrouter", f"{WS}/TaskQueues/{q['sid']}")
    w = api(
        "POST",
        "taskrouter",
        f"{WS}/Workers",
        FriendlyName="dave",
        Attributes=json.dumps({"contact_uri": "client:dave"}),
        ActivitySid=flex.activities["Offline"],
    )
    api("GET", "taskrouter", f"{WS}/Workers", Available="false", ActivityName="Offline")
    api("GET", "taskrouter", f"{WS}/Workers/{w['sid']}")
    api(
        "POST",
        "taskrouter",
        f"{WS}/Workers/{w['sid']}",
        Attributes=json.dumps({"contact_uri": "client:dave2"}),
    )
    wc = api("GET", "taskrouter", f"{WS}/Workers/{w['sid']}/Channels")["channels"][0]
    api("GET", "taskrouter", f"{WS}/Workers/{w['sid']}/Channels/{wc['sid']}")
    api("POST", "taskrouter", f"{WS}/Workers/{w['sid']}/Channels/{wc['sid']}", Capacity="3", Available="true")
    api("DELETE", "taskrouter", f"{WS}/Workers/{w['sid']}")
    cfg = {"task_routing": {"filters": [], "default_filter": {"queue": flex.queues["Sales"]}}}
    wf = api("POST", "taskrouter", f"{WS}/Workflows", FriendlyName="Temp", Configuration=json.dumps(cfg))
    api("GET", "taskrouter", f"{WS}/Workflows", FriendlyName="Temp")
    api("GET", "taskrouter", f"{WS}/Workflows/{wf['sid']}")
    api(
        "POST",
        "taskrouter",
        f"{WS}/Workflows/{wf['sid']}",
        TaskReservationTimeout="60",
        ReEvaluateTasks="true",
    )
    api("DELETE", "taskrouter", f"{WS}/Workflows/{wf['sid']}")
    task = api(
        "POST",
        "taskrouter",
        f"{WS}/Tasks",
        WorkflowSid=flex.assign_to_anyone_workflow_sid,
        TaskChannel="chat",
        Attributes=json.dumps({"conversationSid": "CH" + "1" * 32}),
        Priority="1",
        Timeout="600",
    )
    TASK = f"{WS}/Tasks/{task['sid']}"
    api("GET", "taskrouter", f"{WS}/Tasks", AssignmentStatus="pending,reserved", Ordering="DateCreated:desc")
    api("GET", "taskrouter", TASK)
    api("POST", "taskrouter", TASK, Priority="2")
    res = api("GET", "taskrouter", f"{TASK}/Reservations", ReservationStatus="pending")["reservations"][0]
    api("GET", "taskrouter", f"{TASK}/Reservations/{res['sid']}")
    api("POST", "taskrouter", f"{TASK}/Reservations/{res['sid']}", ReservationStatus="accepted")
    WRES = f"{WS}/Workers/{res['worker_sid']}/Reservations"
    api("GET", "taskrouter", WRES)
    api("GET", "taskrouter", f"{WRES}/{res['sid']}")
    api("POST", "taskrouter", f"{WRES}/{res['sid']}", ReservationStatus="wrapping")
    api("POST", "taskrouter", TASK, AssignmentStatus="completed", Reason="done")
    api("DELETE", "taskrouter", TASK)
    events = api("GET", "taskrouter", f"{WS}/Events", EventType="task.created", PageSize=5)["events"]
    api("GET", "taskrouter", f"{WS}/Events/{events[0]['sid']}")
    api("DELETE", "taskrouter", f"/v1/Workspaces/{other['sid']}")
    # ---- Conversations
    api("GET", "conversations", "/v1/Configuration")
    api("POST", "conversations", "/v1/Configuration", DefaultInactiveTimer="PT1H")
    api("GET", "conversations", "/v1/Configuration/Webhooks")
    api(
        "POST",
        "conversations",
        "/v1/Configuration/Webhooks",
        Filters=["onMessageAdded", "onParticipantAdded"],
        Method="POST",
        Target="webhook",
    )
    svc = api("POST", "conversations", "/v1/Services", FriendlyName="Temp service")
    api("GET", "conversations", "/v1/Services")
    api("GET", "conversations", f"/v1/Services/{svc['sid']}")
    api("GET", "conversations", f"/v1/Services/{svc['sid']}/Configuration")
    api("POST", "conversations", f"/v1/Services/{svc['sid']}/Configuration", ReachabilityEnabled="true")
    api("GET", "conversations", f"/v1/Services/{svc['sid']}/Configuration/Webhooks")
    api(
        "POST", "conversations", f"/v1/Services/{svc['sid']}/Configuration/Webhooks", Filters="onMessageAdded"
    )
    for base in ("/v1", f"/v1/Services/{svc['sid']}"):
        conv = api(
            "POST",
            "conversations",
            f"{base}/Conversations",
            FriendlyName="c",
            Attributes="{}",
            **{"Timers.Closed": "PT1H"},
        )
        C = f"{base}/Conversations/{conv['sid']}"
        api("GET", "conversations", f"{base}/Conversations", State="active")
        api("GET", "conversations", C)
        api(
            "POST",
            "conversations",
            C,
            Attributes=json.dumps({"a": 1}),
            headers={"X-Twilio-Webhook-Enabled": "true"},
        )
        p = api("POST", "conversations", f"{C}/Participants", Identity="pat")
        api("GET", "conversations", f"{C}/Participants")
        api("GET", "conversations", f"{C}/Participants/{p['sid']}")
        api(
            "POST", "conversations", f"{C}/Participants/{p['sid']}", Attributes="{}", LastReadMessageIndex="0"
        )
        m = api("POST", "conversations", f"{C}/Messages", Author="pat", Body="hi", Attributes="{}")
        api("GET", "conversations", f"{C}/Messages", Order="desc")
        api("GET", "conversations", f"{C}/Messages/{m['sid']}")
        api("POST", "conversations", f"{C}/Messages/{m['sid']}", Body="hi!")
        api("DELETE", "conversations", f"{C}/Messages/{m['sid']}")
        api("DELETE", "conversations", f"{C}/Participants/{p['sid']}")
        api("DELETE", "conversations", C)
    api("DELETE", "conversations", f"/v1/Services/{svc['sid']}")
    # ---- Flex Interactions
    conv = sb.conversations.create()
    inter = api(
        "POST",
        "flex-api",
        "/v1/Interactions",
        Channel=json.dumps(
            {"type": "web", "initiated_by": "customer", "properties": {"media_channel_sid": conv.sid}}
        ),
        Routing=json.dumps(
            {
                "properties": {
                    "workspace_sid": flex.workspace_sid,
                    "workflow_sid": flex.assign_to_anyone_workflow_sid,
                    "task_channel_unique_name": "chat",
                    "attributes": {"customerName": "x"},
                }
            }
        ),
    )
    inter_path = f"/v1/Interactions/{inter['sid']}"
    api("GET", "flex-api", inter_path)
    api("POST", "flex-api", inter_path, WebhookTtid="flex_interactionwebhook_1")
    api("GET", "flex-api", f"{inter_path}/Channels")
    CH = f"{inter_path}/Channels/{inter['channel']['sid']}"
    api("GET", "flex-api", CH)
    sb.accept_task(inter["routing"]["properties"]["sid"])
    api(
        "POST",
        "flex-api",
        f"{CH}/Invites",
        Routing=json.dumps(
            {
                "properties": {
                    "workspace_sid": flex.workspace_sid,
                    "workflow_sid": flex.assign_to_anyone_workflow_sid,
                    "task_channel_unique_name": "chat",
                    "attributes": {},
                }
            }
        ),
    )
    api("GET", "flex-api", f"{CH}/Invites")
    api(
        "POST",
        "flex-api",
        f"{CH}/Participants",
        Type="external",
        MediaProperties=json.dumps({"identity": "ext"}),
    )
    parts = api("GET", "flex-api", f"{CH}/Participants")["participants"]
    agent = next(p for p in parts if p["type"] == "agent")
    api("POST", "flex-api", f"{CH}/Participants/{agent['sid']}", Status="wrapup")
    api("POST", "flex-api", CH, Status="closed")
    # ---- IAM
    token = sb.token_for(flex.workers["alice"])
    for t in (token, "not-a-token"):
        resp = requests.post(
            f"{sb.base_url}/iam/v1/Accounts/{sb.account_sid}/Tokens/validate",
            json={"token": t},
            auth=(sb.account_sid, sb.auth_token),
            timeout=10,
        )
        assert resp.status_code == 200
    # ---- Event Streams
    sink = api(
        "POST",
        "events",
        "/v1/Sinks",
        Description="tour",
        SinkType="webhook",
        SinkConfiguration=json.dumps({"destination": "http://127.0.0.1:9/sink", "method": "POST"}),
    )
    SINK = f"/v1/Sinks/{sink['sid']}"
    api("GET", "events", "/v1/Sinks", InUse="false", Status="active")
    api("GET", "events", SINK)
    api("POST", "events", SINK, Description="tour sink")
    api("POST", "events", f"{SINK}/Test")
    api("POST", "events", f"{SINK}/Validate", TestId=sb.event_streams.sinks[sink["sid"]].last_test_id)
    types = [json.dumps({"type": "com.twilio.taskrouter.task.created", "schema_version": 4})]
    sub = api("POST", "events", "/v1/Subscriptions", Description="tour", SinkSid=sink["sid"], Types=types)
    SUB = f"/v1/Subscriptions/{sub['sid']}"
    api("GET", "events", "/v1/Subscriptions", SinkSid=sink["sid"])
    api("GET", "events", SUB)
    api("POST", "events", SUB, Description="tour subscription")
    api("POST", "events", f"{SUB}/SubscribedEvents", Type="com.twilio.taskrouter.task.completed")
    api(
        "POST",
        "events",
        f"{SUB}/SubscribedEvents",
        Type="com.twilio.taskrouter.task.completed",
        SchemaVersion="3",
    )
    api("GET", "events", f"{SUB}/SubscribedEvents")
    api("GET", "events", f"{SUB}/SubscribedEvents/com.twilio.taskrouter.task.completed")
    api("POST", "events", f"{SUB}/SubscribedEvents/com.twilio.taskrouter.task.completed", SchemaVersion="4")
    api("DELETE", "events", f"{SUB}/SubscribedEvents/com.twilio.taskrouter.task.completed")
    api("GET", "events", "/v1/Types", SchemaId="TaskRouter.WDSEvent", PageSize=5)
    api("GET", "events", "/v1/Types/com.twilio.conversations.participant.added")
    api("GET", "events", "/v1/Schemas/TaskRouter.WDSEvent")
    api("GET", "events", "/v1/Schemas/TaskRouter.WDSEvent/Versions")
    api("GET", "events", "/v1/Schemas/Conversations.ParticipantAdded/Versions/2")
    api("DELETE", "events", SUB)
    api("DELETE", "events", SINK)
    # ---- a few errors, for the error shape
    api("GET", "taskrouter", f"{WS}/Tasks/WT" + "0" * 32, expect=404)
    api("POST", "conversations", "/v1/Conversations", State="closed", expect=400)


@pytest.fixture(scope="module")
def toured():
    with Sandbox(seed=21) as sb:
        tour(sb)
        assert sb.wait_idle()
        yield sb


def test_the_tour_is_faithful(toured):
    toured.assert_faithful()


def test_every_modelled_operation_was_exercised(toured):
    seen = {(r.product, r.template, r.method) for r in toured.requests if r.status and r.status < 300}
    missing = sorted(set(HANDLERS) - seen)
    assert missing == []


def test_every_response_kind_matches_the_description(toured):
    checked, failures = answer_problems(toured)
    assert failures == []
    assert checked > 80


def test_list_pages_have_twilio_meta(toured):
    lists = [
        r
        for r in toured.requests
        if r.method == "GET" and isinstance(r.response, dict) and "meta" in r.response
    ]
    assert lists
    for r in lists:
        meta = r.response["meta"]
        assert set(meta) == {
            "first_page_url",
            "key",
            "next_page_url",
            "page",
            "page_size",
            "previous_page_url",
            "url",
        }
        assert meta["key"] in r.response and meta["url"].startswith(HOSTS[r.product])


# ------------------------------------------------------------ request checks
@pytest.mark.parametrize(
    "method, product, path, params, status, kind",
    [
        (
            "GET",
            "taskrouter",
            "/v1/Workspaces/{ws}/Tasks",
            {"Assignment_Status": "pending"},
            400,
            "unknown-parameter",
        ),
        (
            "POST",
            "taskrouter",
            "/v1/Workspaces/{ws}/Tasks",
            {"WorkflowSID": "WW" + "0" * 32},
            400,
            "unknown-parameter",
        ),
        (
            "POST",
            "taskrouter",
            "/v1/Workspaces/{ws}/Tasks/{task}",
            {"AssignmentStatus": "done"},
            400,
            "invalid-value",
        ),
        ("POST", "taskrouter", "/v1/Workspaces/{ws}/Tasks", {"Priority": "high"}, 400, "invalid-value"),
        (
            "POST",
            "taskrouter",
            "/v1/Workspaces/{ws}/Workflows",
            {"FriendlyName": "x"},
            400,
            "missing-parameter",
        ),
        ("GET", "taskrouter", "/v1/Workspaces/{ws}/Tasks/not-a-sid", {}, 404, "path-param"),
        ("GET", "taskrouter", "/v1/Workspaces/{ws}/Taskz", {}, 404, "unknown-path"),
        ("PUT", "taskrouter", "/v1/Workspaces/{ws}", {}, 405, "method"),
        (
            "POST",
            "conversations",
            "/v1/Conversations/{conv}/Messages",
            {"Media": "x"},
            400,
            "unknown-parameter",
        ),
        ("GET", "chat", "/v2/Services", {}, 404, "unknown-path"),
    ],
)
def test_requests_twilio_would_reject_are_answered_and_recorded(
    sb, flex, method, product, path, params, status, kind
):
    chat = sb.start_chat("zed")
    path = path.format(ws=flex.workspace_sid, task=chat.task_sid, conv=chat.conversation_sid)
    resp = requests.request(
        method,
        f"{sb.base_url}/{product}{path}",
        auth=(sb.account_sid, sb.auth_token),
        **({"params": params} if method == "GET" else {"data": params}),
        timeout=10,
    )
    assert resp.status_code == status
    body = resp.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert [v.kind for v in sb.violations] == [kind]
    with pytest.raises(AssertionError):
        sb.assert_faithful()


def test_a_real_but_unmodelled_operation_is_answered_501_and_recorded(sb, flex):
    resp = requests.get(
        f"{sb.base_url}/taskrouter/v1/Workspaces/{flex.workspace_sid}/Statistics",
        auth=(sb.account_sid, sb.auth_token),
        timeout=10,
    )
    assert resp.status_code == 501 and resp.json()["code"] == 20501
    assert sb.violations == [] and [v.template for v in sb.unmodelled] == [
        "/v1/Workspaces/{WorkspaceSid}/Statistics"
    ]
    with pytest.raises(AssertionError):
        sb.assert_faithful()


def test_no_credentials_is_401(sb, flex):
    resp = requests.get(f"{sb.base_url}/taskrouter/v1/Workspaces/{flex.workspace_sid}", timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == 20003
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_token_validation(sb, flex):
    url = f"{sb.base_url}/iam/v1/Accounts/{sb.account_sid}/Tokens/validate"
    auth = (sb.account_sid, sb.auth_token)
    good = requests.post(url, json={"token": flex.tokens["alice"]}, auth=auth, timeout=10).json()
    assert good["valid"] is True and good["worker_sid"] == flex.workers["alice"]
    assert good["identity"] == "alice" and good["roles"] == ["agent"]
    sup = sb.register_token(flex.workers["bob"], roles=["agent", "supervisor"], ttl=60)
    assert requests.post(url, json={"token": sup}, auth=auth, timeout=10).json()["roles"] == [
        "agent",
        "supervisor",
    ]
    sb.advance(61)
    expired = requests.post(url, json={"token": sup}, auth=auth, timeout=10)
    assert expired.status_code == 200 and expired.json()["valid"] is False
    bad = requests.post(url, json={"token": "nope"}, auth=auth, timeout=10).json()
    assert bad["valid"] is False and bad["worker_sid"] is None
    assert (
        requests.post(url, json={"token": "x"}, auth=(sb.account_sid, "wrong"), timeout=10).status_code == 401
    )
    sb.assert_faithful()
