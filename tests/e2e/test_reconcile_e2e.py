"""Reconciliation (CONTRACT §6 rule 7) with a real `celery beat`: events that never arrive."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.test_last_task_e2e import gateway_for

pytestmark = pytest.mark.e2e

PERIOD = 2.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = {"RECONCILE_INTERVAL_SECONDS": str(PERIOD)}
    with LocalStack(worker_count=1, worker_concurrency=2, beat=True, settings=settings) as running:
        yield running


def accepted_chat(stack: LocalStack, customer: str) -> tuple[str, str]:
    sb = stack.sandbox
    chat = sb.start_chat(customer)
    offer = sb.pending_reservation(task_sid=chat.task_sid)
    sb.accept(offer["sid"])
    wait_for(lambda: stack.tracked(chat.conversation_sid).get("members"), what="agent tracked")
    sb.wait_idle()
    return chat.conversation_sid, chat.task_sid


def test_a_chat_whose_completion_events_were_lost_ends_within_two_periods(stack):
    sb = stack.sandbox
    conversation, task_sid = accepted_chat(stack, "ivan")
    callback = f"{stack.base_url}/webhooks/taskrouter"
    sb.set_event_callback(None)  # TaskRouter's events for the end of the task are lost
    try:
        sb.wrapup(task_sid)
        sb.complete(task_sid)
    finally:
        sb.set_event_callback(callback)
    lost_at = time.monotonic()
    wait_for(
        lambda: sb.conversation(conversation)["state"] == "closed", timeout=4 * PERIOD + 10, what="closed"
    )
    elapsed = time.monotonic() - lost_at
    assert elapsed <= 2 * PERIOD + 5, f"ended {elapsed:.1f}s after the lost events"
    state = stack.tracked(conversation)
    assert state["tasks"][task_sid] == {**state["tasks"][task_sid], "status": "closed", "reason": "completed"}
    assert [n["notificationType"] for n in stack.notices(conversation)].count("chat-ended") == 1

    def repaired() -> float:
        metrics = requests.get(f"{stack.base_url}/metrics", timeout=5).text
        line = next(
            m for m in metrics.splitlines() if m.startswith("chat_transfer_reconcile_tasks_repaired_total")
        )
        return float(line.split()[-1])

    wait_for(lambda: repaired() >= 1, what="the repair counted in /metrics")  # written as the run ends


def test_a_deleted_task_without_its_event_is_closed_too(stack):
    sb = stack.sandbox
    conversation, task_sid = accepted_chat(stack, "jo")
    callback = f"{stack.base_url}/webhooks/taskrouter"
    sb.set_event_callback(None)
    try:
        sb.wrapup(task_sid)
        sb.complete(task_sid)
        gateway_for(stack).workspace.tasks(task_sid).delete()
        assert sb.task_status(task_sid) is None
    finally:
        sb.set_event_callback(callback)
    wait_for(
        lambda: sb.conversation(conversation)["state"] == "closed", timeout=4 * PERIOD + 10, what="closed"
    )
    assert stack.tracked(conversation)["tasks"][task_sid]["reason"] == "deleted"


def test_two_beats_never_double_act(stack):
    """A second beat fires the same schedule; the Redis lock lets one run act at a time."""
    from ops.localstack import start_beat

    second = start_beat(stack.env)
    try:
        conversation, task_sid = accepted_chat(stack, "kim")
        callback = f"{stack.base_url}/webhooks/taskrouter"
        sb = stack.sandbox
        sb.set_event_callback(None)
        try:
            sb.wrapup(task_sid)
            sb.complete(task_sid)
        finally:
            sb.set_event_callback(callback)
        wait_for(
            lambda: sb.conversation(conversation)["state"] == "closed", timeout=4 * PERIOD + 10, what="closed"
        )
        closes = [
            r
            for r in sb.requests_to(product="conversations", method="POST")
            if r.params.get("State") == "closed" and r.path.endswith(conversation)
        ]
        assert len(closes) == 1
        assert [n["notificationType"] for n in stack.notices(conversation)].count("chat-ended") == 1
    finally:
        second.stop()


def test_a_conversation_closed_without_a_webhook_is_noticed_and_rule_5_runs(stack):
    """A REST close sends no webhook (unless X-Twilio-Webhook-Enabled): reconciliation reads the
    conversation, cancels the task still waiting in the queue, and posts nothing more."""
    sb, setup = stack.sandbox, stack.setup
    for worker in setup.workers.values():
        sb.set_activity(worker, "Offline")
    try:
        chat = sb.start_chat("kim")
        wait_for(
            lambda: chat.task_sid in stack.tracked(chat.conversation_sid).get("tasks", {}), what="tracked"
        )
        sb.wait_idle()
        gateway_for(stack).update_conversation(chat.conversation_sid, state="closed")  # no webhook
        wait_for(
            lambda: sb.task_status(chat.task_sid) == "canceled", timeout=4 * PERIOD + 10, what="canceled"
        )
        wait_for(lambda: stack.tracked(chat.conversation_sid).get("ended") == "ended", what="tracking ended")
        state = stack.tracked(chat.conversation_sid)
        assert (state["customer_left"], state["closed_by"]) == (True, "other")
        assert stack.notices(chat.conversation_sid) == []
        sb.assert_faithful()
    finally:
        for worker in setup.workers.values():
            sb.set_activity(worker, "Available")
