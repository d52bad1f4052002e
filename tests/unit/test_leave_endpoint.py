"""`POST /tasks/<taskSid>/leave` in-process, against the sandbox over HTTP: who may leave, what is
queued, and every refusal answered as webhooks/openapi.json says (and nothing queued)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest

from sandbox import Sandbox
from tests.support.settings import sandbox_settings, sid
from tests.unit.test_receiver import BASE, RecordingQueue
from webhooks import create_app
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.task_queue import LEAVE_CHAT
from worker.domain.model import CloseReason


@dataclass
class Desk:
    sb: Sandbox
    client: Any
    queue: RecordingQueue
    store: ConversationStore
    tokens: dict[str, str]
    workers: dict[str, str]
    chat: Any
    agent: str  # the one who accepted the chat

    def leave(self, task_sid: str, token: str | None, **kwargs: Any) -> Any:
        body = {} if token is None else {"Token": token}
        return self.client.post(f"/tasks/{task_sid}/leave", json=body, **kwargs)


@pytest.fixture
def desk() -> Iterator[Desk]:
    with Sandbox(seed=3) as sb:
        setup = sb.seed_flex(workers=[{"name": "alice"}, {"name": "bob"}])
        chat = sb.start_chat("Maria")
        offer = sb.pending_reservation(task_sid=chat.task_sid)
        sb.accept(offer["sid"])
        agent = next(name for name, worker in setup.workers.items() if worker == offer["worker_sid"])
        redis = fakeredis.FakeRedis()
        queue = RecordingQueue()
        app = create_app(
            sandbox_settings(sb, setup, public_base_url=BASE), redis_client=redis, task_queue=queue
        )
        store = ConversationStore(redis, 3600)
        yield Desk(sb, app.test_client(), queue, store, setup.tokens, setup.workers, chat, agent)


def holder(desk: Desk) -> str:
    return desk.agent


def track_the_agent(desk: Desk) -> None:
    """The service has heard of the chat's task and of its agent accepting it."""
    agent, chat = desk.agent, desk.chat
    desk.store.transition(chat.conversation_sid, lambda s: s.track(chat.task_sid))
    desk.store.transition(
        chat.conversation_sid, lambda s: s.accepted(agent, desk.workers[agent], agent.title(), chat.task_sid)
    )


def test_the_agent_on_the_task_leaves_and_a_leave_is_queued(desk: Desk) -> None:
    response = desk.leave(desk.chat.task_sid, desk.tokens[holder(desk)])
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {
        "taskSid": desk.chat.task_sid,
        "conversationSid": desk.chat.conversation_sid,
        "status": "leaving",
    }
    assert desk.queue.sent == [
        (
            LEAVE_CHAT,
            {
                "taskSid": desk.chat.task_sid,
                "conversationSid": desk.chat.conversation_sid,
                "workerSid": desk.workers[desk.agent],
            },
        )
    ]


def test_a_tracked_agent_leaves_without_a_twilio_call_but_the_token_check(desk: Desk) -> None:
    agent = holder(desk)
    track_the_agent(desk)
    before = len(desk.sb.requests)
    assert desk.leave(desk.chat.task_sid, desk.tokens[agent]).status_code == 202
    assert [r.product for r in desk.sb.requests[before:]] == ["iam"]


def test_another_agent_may_not_but_a_supervisor_may(desk: Desk) -> None:
    other = next(name for name in desk.workers if name != holder(desk))
    refused = desk.leave(desk.chat.task_sid, desk.tokens[other])
    assert refused.status_code == 403 and "agent on the task" in refused.get_json()["error"]
    supervisor = desk.sb.register_token(desk.workers[other], roles=("agent", "supervisor"))
    assert desk.leave(desk.chat.task_sid, supervisor).status_code == 202
    assert len(desk.queue.sent) == 1


def test_a_task_already_left_is_answered_the_same_again(desk: Desk) -> None:
    agent = holder(desk)
    track_the_agent(desk)
    desk.store.transition(desk.chat.conversation_sid, lambda s: s.leave(desk.chat.task_sid))
    assert desk.leave(desk.chat.task_sid, desk.tokens[agent]).status_code == 202


@pytest.mark.parametrize(
    ("how", "status", "field"),
    [
        ("bad sid", 400, "taskSid"),
        ("no token", 400, "Token"),
        ("bad token", 403, None),
        ("unknown task", 404, "taskSid"),
    ],
)
def test_refusals_name_the_field_and_queue_nothing(
    desk: Desk, how: str, status: int, field: str | None
) -> None:
    task_sid = {"bad sid": "WT123", "unknown task": sid("WT", 77)}.get(how, desk.chat.task_sid)
    token = {"no token": None, "bad token": "not-a-token"}.get(how, desk.tokens[holder(desk)])
    response = desk.leave(task_sid, token)
    assert response.status_code == status, response.get_json()
    assert response.get_json().get("field") == field
    assert desk.queue.sent == []


def test_a_task_not_in_flight_is_409_with_its_status(desk: Desk) -> None:
    agent = holder(desk)
    desk.sb.wrapup(desk.chat.task_sid)
    response = desk.leave(desk.chat.task_sid, desk.tokens[agent])
    assert response.status_code == 409
    assert response.get_json()["status"] == "wrapping"
    desk.store.transition(
        desk.chat.conversation_sid, lambda s: s.close(desk.chat.task_sid, CloseReason.COMPLETED)
    )
    tracked = desk.leave(desk.chat.task_sid, desk.tokens[agent])
    assert (tracked.status_code, tracked.get_json()["status"]) == (409, "completed")
    assert desk.queue.sent == []


def test_a_task_created_on_a_chat_that_had_ended_is_409_canceled(desk: Desk) -> None:
    """A task TaskRouter created after its chat ended is closed by the model (and canceled in
    TaskRouter), with a reason of its own: leaving it is a conflict, never a 500."""

    def ended_then_created(state: Any) -> None:
        state.ended = "ended"
        state.track(desk.chat.task_sid)

    desk.store.transition(desk.chat.conversation_sid, ended_then_created)
    response = desk.leave(desk.chat.task_sid, desk.tokens[holder(desk)])
    assert (response.status_code, response.get_json()["status"]) == (409, "canceled")
    assert desk.queue.sent == []


def test_a_broker_that_cannot_take_it_is_503(desk: Desk) -> None:
    desk.queue.down = True
    assert desk.leave(desk.chat.task_sid, desk.tokens[holder(desk)]).status_code == 503


def test_the_token_may_come_in_the_header(desk: Desk) -> None:
    response = desk.client.post(
        f"/tasks/{desk.chat.task_sid}/leave", headers={"X-Flex-Token": desk.tokens[holder(desk)]}
    )
    assert response.status_code == 202
