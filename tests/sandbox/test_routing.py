"""TaskRouter routing as Twilio documents it: filters, targets, known workers,
expressions, capacity, reservation and task timeouts, RoutingTarget."""

import json

import pytest

from sandbox import Sandbox


def transfer(client, flex, **attrs):
    base = {"conversationSid": "CH" + "a" * 32, "channelType": "web"}
    return client.taskrouter.v1.workspaces(flex.workspace_sid).tasks.create(
        workflow_sid=flex.chat_transfer_workflow_sid,
        task_channel="chat",
        attributes=json.dumps({**base, **attrs}),
    )


def reserved_for(sb, task_sid):
    res = sb.reservations(task_sid=task_sid, status="pending")
    return [r["worker_name"] for r in res]


def test_default_workflow_reserves_longest_idle_available_worker(sb, flex):
    chat = sb.start_chat("ann")
    assert sb.task_status(chat.task_sid) == "reserved"
    assert reserved_for(sb, chat.task_sid) == ["alice"]
    task = sb.task(chat.task_sid)
    assert task["task_queue_friendly_name"] == "Everyone"
    assert task["workflow_friendly_name"] == "Assign to Anyone"
    types = [e["event_type"] for e in sb.events(task_sid=chat.task_sid)]
    assert types[:4] == ["task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered"]
    assert types[-1] == "reservation.created"


def test_known_worker_target(sb, flex, client):
    t = transfer(client, flex, transferTargetType="worker", transferTargetSid=flex.workers["bob"])
    assert reserved_for(sb, t.sid) == ["bob"]


def test_known_worker_must_be_available(sb, flex, client):
    t = transfer(client, flex, transferTargetType="worker", transferTargetSid=flex.workers["carol"])
    assert sb.task_status(t.sid) == "pending"
    sb.set_activity(flex.workers["carol"], "Available")
    assert reserved_for(sb, t.sid) == ["carol"]


def test_queue_by_expression(sb, flex, client):
    t = transfer(
        client,
        flex,
        transferTargetType="queue",
        transferTargetSid=flex.queues["Support"],
        transferQueueName="Support",
        ignoreWorkerContactUri="client:nobody",
    )
    assert sb.task(t.sid)["task_queue_friendly_name"] == "Support"
    assert reserved_for(sb, t.sid) == ["bob"]  # carol (support) is offline, alice lacks the skill


def test_queue_rule_excludes_the_transferring_agent(sb, flex, client):
    sb.set_activity(flex.workers["bob"], "Offline")
    t = transfer(
        client,
        flex,
        transferTargetType="queue",
        transferTargetSid=flex.queues["Sales"],
        transferQueueName="Sales",
        ignoreWorkerContactUri="client:alice",
    )
    assert sb.task_status(t.sid) == "pending"  # alice is in Sales and available, but excluded
    sb.set_activity(flex.workers["bob"], "Available")
    assert reserved_for(sb, t.sid) == ["bob"]


def test_capacity_is_respected_and_released_on_completion(sb, flex):
    sb.set_activity(flex.workers["bob"], "Offline")
    ws = sb.taskrouter.ws(flex.workspace_sid)
    alice = ws.workers[flex.workers["alice"]]
    chat_channel = sb.taskrouter.channel_by_name(ws, "chat").sid
    sb.taskrouter.update_worker_channel(ws, alice, alice.channels[chat_channel], capacity=1)
    first = sb.start_chat("c1")
    second = sb.start_chat("c2")
    assert reserved_for(sb, first.task_sid) == ["alice"]
    assert sb.task_status(second.task_sid) == "pending"
    sb.accept_task(first.task_sid)
    sb.wrapup(first.task_sid)
    assert sb.task_status(second.task_sid) == "pending"  # a wrapping task still takes capacity
    sb.complete(first.task_sid)
    assert reserved_for(sb, second.task_sid) == ["alice"]


def test_capacity_released_on_wrapup_when_configured():
    with Sandbox(seed=3, release_capacity_on_wrapup=True) as sb:
        flex = sb.seed_flex(workers=[{"name": "alice", "chat_capacity": 1}])
        first, second = sb.start_chat("c1"), sb.start_chat("c2")
        sb.accept_task(first.task_sid)
        assert sb.task_status(second.task_sid) == "pending"
        sb.wrapup(first.task_sid)
        assert reserved_for(sb, second.task_sid) == ["alice"]
        assert flex.workers["alice"]


def test_reject_offers_the_task_to_someone_else_never_back(sb, flex):
    chat = sb.start_chat("dan")
    res = sb.pending_reservation(task_sid=chat.task_sid)
    sb.reject(res["sid"])
    assert reserved_for(sb, chat.task_sid) == ["bob"]
    sb.reject(sb.pending_reservation(task_sid=chat.task_sid)["sid"])
    assert sb.task_status(chat.task_sid) == "pending"
    types = [e["event_type"] for e in sb.events(task_sid=chat.task_sid)]
    assert types.count("reservation.rejected") == 2


def test_reservation_timeout_moves_worker_offline_and_reroutes(sb, flex):
    chat = sb.start_chat("eve")
    assert reserved_for(sb, chat.task_sid) == ["alice"]
    sb.advance(121)  # TaskReservationTimeout is 120 s
    assert sb.worker(flex.workers["alice"])["activity_name"] == "Offline"
    assert reserved_for(sb, chat.task_sid) == ["bob"]
    types = [e["event_type"] for e in sb.events(task_sid=chat.task_sid)]
    assert "reservation.timeout" in types
    assert any(e["event_type"] == "worker.activity.update" for e in sb.events())


def test_reservation_timeout_moves_to_next_target(sb, flex):
    cfg = {
        "task_routing": {
            "filters": [
                {
                    "filter_friendly_name": "escalate",
                    "expression": "1==1",
                    "targets": [
                        {"queue": flex.queues["Sales"], "timeout": 300},
                        {"queue": flex.queues["Support"], "priority": 10},
                    ],
                }
            ]
        }
    }
    wf = sb.add_workflow("Escalation", cfg, reservation_timeout=30)
    sb.set_activity(flex.workers["bob"], "Offline")
    chat = sb.start_chat("fay", workflow_sid=wf)
    assert sb.task(chat.task_sid)["task_queue_friendly_name"] == "Sales"
    assert reserved_for(sb, chat.task_sid) == ["alice"]
    sb.advance(31)
    assert sb.task(chat.task_sid)["task_queue_friendly_name"] == "Support"
    sb.set_activity(flex.workers["carol"], "Available")
    assert reserved_for(sb, chat.task_sid) == ["carol"]


def test_target_timeouts_add_up_then_the_workflow_times_out(sb, flex):
    cfg = {
        "task_routing": {
            "filters": [
                {
                    "expression": "1==1",
                    "targets": [
                        {"queue": flex.queues["Support"], "timeout": 10},
                        {
                            "queue": flex.queues["Sales"],
                            "timeout": 10,
                            "expression": "worker.contact_uri == 'client:nobody'",
                        },
                    ],
                }
            ]
        }
    }
    wf = sb.add_workflow("Short", cfg)
    sb.set_activity(flex.workers["bob"], "Offline")
    chat = sb.start_chat("gus", workflow_sid=wf)
    assert sb.task(chat.task_sid)["task_queue_friendly_name"] == "Support"
    sb.advance(11)
    assert sb.task(chat.task_sid)["task_queue_friendly_name"] == "Sales"
    assert sb.task_status(chat.task_sid) == "pending"
    sb.advance(10)
    task = sb.task(chat.task_sid)
    assert task["assignment_status"] == "canceled" and task["reason"] == "Workflow Timeout"
    assert "workflow.timeout" in [e["event_type"] for e in sb.events(task_sid=chat.task_sid)]


def test_transfer_to_unavailable_worker_times_out(sb):
    flex = sb.seed_flex(
        workers=[{"name": "alice"}, {"name": "bob", "activity": "Offline"}], transfer_target_timeout=60
    )
    t = sb.taskrouter.create_task(
        sb.taskrouter.ws(flex.workspace_sid),
        workflow_sid=flex.chat_transfer_workflow_sid,
        task_channel="chat",
        attributes=json.dumps({"transferTargetType": "worker", "transferTargetSid": flex.workers["bob"]}),
    )
    sb.advance(61)
    assert sb.task(t.sid)["reason"] == "Workflow Timeout"


def test_task_ttl_cancels(sb, flex):
    for name in ("alice", "bob"):
        sb.set_activity(flex.workers[name], "Offline")
    chat = sb.start_chat("hal", timeout=60)
    sb.advance(59)
    assert sb.task_status(chat.task_sid) == "pending"
    sb.advance(2)
    task = sb.task(chat.task_sid)
    assert task["assignment_status"] == "canceled" and task["reason"] == "Task TTL Exceeded"
    canceled = sb.events(types=["task.canceled"], task_sid=chat.task_sid)
    assert canceled[0]["event_data"]["task_canceled_reason"] == "Task TTL Exceeded"


def test_ttl_cancels_a_reserved_task_and_its_reservation(sb, flex):
    chat = sb.start_chat("ida", timeout=30)
    res = sb.pending_reservation(task_sid=chat.task_sid)
    sb.advance(31)
    assert sb.task_status(chat.task_sid) == "canceled"
    assert sb.reservations(task_sid=chat.task_sid)[0]["reservation_status"] == "canceled"
    types = [e["event_type"] for e in sb.events(task_sid=chat.task_sid)]
    assert types[-2:] == ["reservation.canceled", "task.canceled"]
    assert res["sid"]


def test_assigned_task_is_not_canceled_by_ttl(sb, flex):
    chat = sb.start_chat("jo", timeout=30)
    sb.accept_task(chat.task_sid)
    sb.advance(29)
    assert sb.task_status(chat.task_sid) == "assigned"
    sb.advance(2)  # past its TTL it is deleted by the system (test_task_lifetime), never canceled
    assert sb.events(types=["task.canceled"], task_sid=chat.task_sid) == []


@pytest.mark.parametrize("who", ["worker", "queue"])
def test_routing_target(sb, flex, client, who):
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    if who == "worker":
        t = tasks.create(routing_target=flex.workers["bob"], task_channel="chat", attributes="{}")
        assert reserved_for(sb, t.sid) == ["bob"]
        assert t.routing_target == flex.workers["bob"]
    else:
        t = tasks.create(routing_target=flex.queues["Support"], task_channel="chat", attributes="{}")
        assert reserved_for(sb, t.sid) == ["bob"]
        assert sb.task(t.sid)["task_queue_sid"] == flex.queues["Support"]
    sb.assert_faithful()


def test_routing_target_worker_ignores_capacity_by_default(sb, flex, client):
    ws = sb.taskrouter.ws(flex.workspace_sid)
    bob = ws.workers[flex.workers["bob"]]
    chat = sb.taskrouter.channel_by_name(ws, "chat").sid
    sb.taskrouter.update_worker_channel(ws, bob, bob.channels[chat], capacity=0)
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    t = tasks.create(routing_target=flex.workers["bob"], task_channel="chat", attributes="{}")
    assert reserved_for(sb, t.sid) == ["bob"]
    strict = tasks.create(
        routing_target=flex.workers["bob"], task_channel="chat", attributes="{}", ignore_capacity="false"
    )
    assert sb.task_status(strict.sid) == "pending"


def test_attribute_update_reevaluates_a_pending_task(sb, flex, client):
    sb.set_activity(flex.workers["bob"], "Offline")
    t = transfer(
        client, flex, transferTargetType="queue", transferQueueName="Support", ignoreWorkerContactUri="x"
    )
    assert sb.task_status(t.sid) == "pending"
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    tasks(t.sid).update(
        attributes=json.dumps(
            {"transferTargetType": "queue", "transferQueueName": "Sales", "ignoreWorkerContactUri": "x"}
        )
    )
    assert reserved_for(sb, t.sid) == ["alice"]


def test_concurrent_requests_keep_state_consistent(sb, flex):
    from concurrent.futures import ThreadPoolExecutor

    from .conftest import twilio_client

    def create(i):
        client = twilio_client(sb)
        return (
            client.taskrouter.v1.workspaces(flex.workspace_sid)
            .tasks.create(
                workflow_sid=flex.assign_to_anyone_workflow_sid,
                task_channel="chat",
                attributes=json.dumps({"i": i}),
            )
            .sid
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = list(pool.map(create, range(40)))
    assert len(set(sids)) == 40
    reserved = sb.tasks(status="reserved")
    assert len(reserved) == 4  # alice and bob, chat capacity 2 each; carol is offline
    per_worker = [r["worker_name"] for r in sb.reservations(status="pending")]
    assert sorted(per_worker) == ["alice", "alice", "bob", "bob"]
    assert len(sb.tasks(status="pending")) == 36
    sb.assert_faithful()
