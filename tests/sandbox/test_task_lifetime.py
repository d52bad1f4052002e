"""Tasks vanish (issue 15, part 2): a completed or canceled task is deleted five minutes after it
ended, without an event; an assigned or wrapping task past its TTL is deleted by the system with
task.system-deleted; a deleted task is 404 (20404). Over HTTP with the twilio library."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from sandbox import Sandbox

from .conftest import twilio_client
from .described import assert_described


def fetch_code(client, workspace_sid, task_sid):
    """The Twilio error code of fetching the task (None: it is there)."""
    try:
        client.taskrouter.v1.workspaces(workspace_sid).tasks(task_sid).fetch()
    except TwilioRestException as exc:
        assert exc.status == 404
        return exc.code
    return None


@pytest.mark.parametrize("ending", ["completed", "canceled"])
def test_an_ended_task_is_deleted_five_minutes_later_without_an_event(sb, flex, client, receiver, ending):
    sb.set_event_callback(receiver.url + "/tr")
    chat = sb.start_chat("quin")
    tasks = client.taskrouter.v1.workspaces(flex.workspace_sid).tasks
    if ending == "completed":
        res = sb.accept_task(chat.task_sid)
        tasks(chat.task_sid).update(assignment_status="completed")
    else:
        res = sb.pending_reservation(task_sid=chat.task_sid)["sid"]
        tasks(chat.task_sid).update(assignment_status="canceled", reason="gone")
    assert sb.wait_idle()
    seen = len(receiver.received)
    sb.advance(299)
    assert tasks(chat.task_sid).fetch().assignment_status == ending
    assert tasks(chat.task_sid).reservations(res).fetch().sid == res
    sb.advance(1)
    assert fetch_code(client, flex.workspace_sid, chat.task_sid) == 20404
    with pytest.raises(TwilioRestException) as gone:
        tasks(chat.task_sid).reservations(res).fetch()
    assert gone.value.status == 404
    assert chat.task_sid not in {t.sid for t in tasks.list()}
    assert sb.task_status(chat.task_sid) is None
    with pytest.raises(TwilioRestException):
        tasks(chat.task_sid).update(attributes="{}")
    assert sb.wait_idle()
    assert len(receiver.received) == seen  # no task.deleted for the purge
    assert sb.events(types=["task.deleted", "task.system-deleted"]) == []
    sb.violations.clear()  # the 404s were the point
    assert_described(sb)


def test_the_retention_is_a_knob_on_the_sandbox_clock(receiver):
    with Sandbox(seed=3, task_retention=5) as sb:
        flex = sb.seed_flex(workers=[{"name": "alice"}])
        chat = sb.start_chat("ray")
        sb.cancel_task(chat.task_sid, "customer left")
        sb.advance(4.9)
        assert sb.task_status(chat.task_sid) == "canceled"
        sb.advance(0.2)
        assert fetch_code(twilio_client(sb), flex.workspace_sid, chat.task_sid) == 20404


@pytest.mark.parametrize("status", ["assigned", "wrapping"])
def test_an_assigned_or_wrapping_task_past_its_ttl_is_deleted_by_the_system(
    sb, flex, client, receiver, status
):
    sb.set_event_callback(receiver.url + "/tr")
    chat = sb.start_chat("sue", timeout=3600)
    sb.accept_task(chat.task_sid, flex.workers["alice"])
    if status == "wrapping":
        sb.wrapup(chat.task_sid)
    worker = client.taskrouter.v1.workspaces(flex.workspace_sid).workers(flex.workers["alice"])
    chat_channel = next(c for c in worker.worker_channels.list() if c.task_channel_unique_name == "chat")
    assert chat_channel.assigned_tasks == 1
    sb.advance(3599)
    assert fetch_code(client, flex.workspace_sid, chat.task_sid) is None
    sb.advance(1)
    assert fetch_code(client, flex.workspace_sid, chat.task_sid) == 20404
    assert sb.wait_idle()
    [deleted] = [r.form for r in receiver.received if r.form["EventType"] == "task.system-deleted"]
    assert deleted["TaskSid"] == chat.task_sid and deleted["ResourceType"] == "task"
    assert deleted["ResourceSid"] == chat.task_sid and deleted["TaskAssignmentStatus"] == status
    assert deleted["WorkspaceSid"] == flex.workspace_sid and deleted["TaskAttributes"]
    assert worker.worker_channels(chat_channel.sid).fetch().assigned_tasks == 0
    assert sb.events(types=["task.canceled", "task.deleted"], task_sid=chat.task_sid) == []
    sb.violations.clear()
    assert_described(sb)


def test_a_rest_delete_still_sends_task_deleted_at_once(sb, flex, client, receiver):
    sb.set_event_callback(receiver.url + "/tr", events_filter="task.deleted")
    chat = sb.start_chat("tom")
    client.taskrouter.v1.workspaces(flex.workspace_sid).tasks(chat.task_sid).delete()
    assert sb.wait_idle()
    assert receiver.events() == ["task.deleted"]
    assert_described(sb)


def test_max_assignment_count_cancels_with_the_combined_reason(receiver):
    with Sandbox(seed=8, max_assignment_count=2) as sb:
        flex = sb.seed_flex(
            workers=[{"name": "alice"}, {"name": "bob"}, {"name": "carol"}],
            event_callback_url=receiver.url + "/tr",
        )
        chat = sb.start_chat("uma")
        sb.reject(sb.pending_reservation(task_sid=chat.task_sid)["sid"])
        sb.time_out(sb.pending_reservation(task_sid=chat.task_sid)["sid"])
        assert sb.task_status(chat.task_sid) == "canceled"
        assert sb.wait_idle()
        canceled = [r.form for r in receiver.received if r.form["EventType"] == "task.canceled"]
        assert [c["TaskCanceledReason"] for c in canceled] == [
            "Task TTL Exceeded or Max assignment count exceeded"
        ]
        task = twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).tasks(chat.task_sid).fetch()
        assert task.reason == "Task TTL Exceeded or Max assignment count exceeded"
        assert_described(sb)
