"""Event Streams as the only intake, end to end: the workspace has no event callback and no
Conversations webhook; the sandbox streams TaskRouter and Conversations events to the receiver's
sink (made by setup's own code) in signed batches, shuffled and sent more than once. The seed's
story in both orders and a warm transfer come out as they do with the callback (the callback's
tests, run on this stack, where their order holds): each notice once, the chat closed once, after
its last task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack, wait_for
from tests.e2e.conftest import finish_leftover_tasks
from tests.e2e.test_last_task_e2e import chat_with_two_agents, finish, kinds
from tests.e2e.test_last_task_e2e import test_a_finishes_first_then_b_the_chat_ends_once as a_first
from tests.e2e.test_transfers_e2e import test_transfer_lifecycle as transfer_lifecycle

pytestmark = pytest.mark.e2e

FAULTS = {
    "stream_shuffle": True,
    "stream_duplicate_rate": 0.25,
    "webhook_duplicate_rate": 0.2,
    "webhook_reorder_rate": 0.2,
    "webhook_kinds": ("event-streams",),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    options = {"event_streams_backoff": (0.2, 2.0)}
    with LocalStack(
        worker_count=1, worker_concurrency=2, intake="event-streams", sandbox_options=options
    ) as running:
        running.sandbox.faults.configure(seed=13, **FAULTS)
        yield running


@pytest.fixture(autouse=True)
def agents_free(stack: LocalStack):
    yield
    finish_leftover_tasks(stack)


def only_event_streams(stack: LocalStack) -> None:
    sb = stack.sandbox
    assert sb.wait_idle(timeout=60)  # the batches still on their way, retried ones included
    workspace = sb.taskrouter.workspaces[stack.setup.workspace_sid]
    assert workspace.event_callback_url is None
    assert sb.deliveries() == []  # no callback, no Conversations webhook: nothing but the sink
    batches = sb.sink_deliveries()
    assert batches and all(d.delivered for d in batches)
    assert all(a.status == 200 for d in batches for a in d.attempts)


def test_b_finishes_first_then_a_the_chat_ends_once(stack):
    """As tests/e2e/test_last_task_e2e.py's, but two agents' joined notices may come in either
    order: Event Streams does not keep the order of the accepted events."""
    sb = stack.sandbox
    conversation, task_a, task_b, agent_a, agent_b = chat_with_two_agents(stack)
    finish(stack, task_b)
    wait_for(lambda: stack.tracked(conversation)["tasks"][task_b]["status"] == "closed", what="B closed")
    wait_for(lambda: "left" in kinds(stack, conversation), what="B's left notice")
    assert sb.wait_idle(timeout=30)
    assert sb.conversation(conversation)["state"] == "active"
    finish(stack, task_a)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", what="the chat ended")
    notices = stack.notices(conversation)
    assert [n["notificationType"] for n in notices] == ["joined", "joined", "left", "left", "chat-ended"]
    names = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}
    assert sorted(n["workerName"] for n in notices[:2]) == sorted([names[agent_a], names[agent_b]])
    assert [n["workerName"] for n in notices[2:4]] == [names[agent_b], names[agent_a]]
    closes = [
        r
        for r in sb.requests_to(product="conversations", method="POST")
        if r.params.get("State") == "closed" and conversation in r.path
    ]
    assert len(closes) == 1
    only_event_streams(stack)
    sb.assert_faithful()


def test_a_finishes_first_then_b_the_chat_ends_once(stack):
    a_first(stack)
    only_event_streams(stack)


def test_a_warm_transfer_with_events_only_from_event_streams(stack):
    transfer_lifecycle(stack, "WARM", "worker", "task")
    only_event_streams(stack)


def test_the_batches_were_shuffled_and_events_came_more_than_once(stack):
    sb = stack.sandbox
    assert sb.wait_idle(timeout=30)
    counts = sb.faults.counts
    assert counts["stream_shuffled"] and counts["stream_duplicated"] and counts["webhook_duplicated"]
    sent = Counter(e["id"] for d in sb.sink_deliveries() for a in d.attempts for e in d.events)
    assert max(sent.values()) > 1
    handled = stack.redis.hgetall("cft:stats:events")
    assert int(handled.get("reservation.accepted", 0)) >= 6  # two per story, two in the transfer
