"""The browser-facing endpoints in-process (issue 12 defects 6, 7, 9; issue 16): one transfer being
set up per task, transfers that make no sense refused, the rate limit, CORS, and GET /chats.
The Flex token check and the task's holder are small fakes; Redis is fakeredis."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

from tests.support.settings import WORKFLOW_SID, make_settings, sid
from tests.unit.test_openapi import check_against_description
from tests.unit.test_receiver import BASE, RecordingQueue, post_signed, task_event
from webhooks import create_app
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.flex_tokens import FlexIdentity
from worker.adapters.task_queue import RUN_TRANSFER
from worker.adapters.transfer_store import TransferStore
from worker.domain.model import ConversationState
from worker.domain.transfer import TransferStatus

ALICE, BOB, SUPERVISOR = sid("WK", 1), sid("WK", 2), sid("WK", 9)
TASK, QUEUE, CHAT = sid("WT", 1), sid("WQ", 1), sid("CH", 1)
TOKENS = {
    "alice": FlexIdentity(ALICE, "alice", ["agent"], 4e9),
    "bob": FlexIdentity(BOB, "bob", ["agent"], 4e9),
    "sup": FlexIdentity(SUPERVISOR, "sup", ["supervisor"], 4e9),
}


class Tokens:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def validate(self, token: str) -> FlexIdentity | None:
        self.asked.append(token)
        return TOKENS.get(token)


class Gateway:
    """TaskRouter as far as the receiver asks it: who accepted the task."""

    def accepted_worker_of(self, task_sid: str) -> str | None:
        return ALICE if task_sid == TASK else None


@pytest.fixture
def redis_client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def make_client(redis_client, queue: RecordingQueue, **settings: Any):
    app = create_app(
        make_settings(public_base_url=BASE, **settings),
        redis_client=redis_client,
        task_queue=queue,
        gateway=Gateway(),  # type: ignore[arg-type]
    )
    app.extensions["chat_transfer.tokens"] = Tokens()
    return app.test_client()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def client(redis_client, queue):
    return make_client(redis_client, queue, transfer_priority_max=5)


def transfer(client, token: str = "alice", key: str | None = None, **fields: Any):
    body = {"taskSid": TASK, "targetSid": QUEUE, "mode": "WARM", "Token": token, **fields}
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/transfers", json=body, headers=headers)
    check_against_description("/transfers", "post", response)
    return response


# ---- one transfer being set up per task (defect 6) ----------------------------------------------


def test_a_second_click_is_409_naming_the_pending_transfer_and_queues_nothing(client, queue):
    first = transfer(client)
    assert first.status_code == 202
    transfer_id = first.get_json()["transferId"]
    assert first.headers["Location"] == f"/transfers/{transfer_id}"
    second = transfer(client, targetSid=BOB)
    assert second.status_code == 409
    assert second.get_json()["transferId"] == transfer_id
    assert queue.sent == [(RUN_TRANSFER, {"transferId": transfer_id})]


def test_the_same_idempotency_key_gets_the_same_answer(client, queue):
    first = transfer(client, key="click-1")
    again = transfer(client, key="click-1")
    assert (again.status_code, again.get_json()) == (202, first.get_json())
    assert len(queue.sent) == 1
    other = transfer(client, key="click-1", targetSid=BOB)
    assert (other.status_code, other.get_json()["field"]) == (409, "Idempotency-Key")


def test_the_task_may_be_transferred_again_once_the_transfer_settled(client, queue, redis_client):
    first = transfer(client).get_json()["transferId"]
    TransferStore(redis_client).update(first, lambda r: setattr(r, "status", TransferStatus.FAILED))
    assert transfer(client).status_code == 202
    assert len(queue.sent) == 2


def test_a_transfer_not_queued_is_503_and_leaves_the_task_free(client, queue):
    queue.down = True
    assert transfer(client, key="k").status_code == 503
    queue.down = False
    assert transfer(client, key="k").status_code == 202
    assert len(queue.sent) == 1


def test_a_bad_idempotency_key_is_400(client, queue):
    response = transfer(client, key="x" * 256)
    assert (response.status_code, response.get_json()["field"]) == (400, "Idempotency-Key")
    assert queue.sent == []


# ---- transfers that make no sense (defect 7) ----------------------------------------------------


def test_a_transfer_to_oneself_is_400_naming_the_target(client, queue):
    for token in ("alice", "sup"):  # the worker on the task is the transferring worker
        response = transfer(client, token, targetSid=ALICE)
        assert (response.status_code, response.get_json()["field"]) == (400, "targetSid")
    assert queue.sent == []


def test_the_transfer_task_times_out_after_the_configured_timeout_or_a_shorter_one(client, redis_client):
    store = TransferStore(redis_client)
    first = transfer(client, key="a").get_json()["transferId"]
    assert store.load(first).timeout == 120
    store.update(first, lambda r: setattr(r, "status", TransferStatus.FAILED))
    shorter = transfer(client, timeout=30).get_json()["transferId"]
    assert store.load(shorter).timeout == 30
    longer = transfer(client, timeout=121)
    assert (longer.status_code, longer.get_json()["field"]) == (400, "timeout")


@pytest.mark.parametrize(
    ("field", "value"), [("priority", 6), ("priority", 2**31 - 1), ("workflowSid", sid("WW", 7))]
)
def test_an_agent_may_not_choose_routing_a_supervisor_may(client, queue, field, value):
    refused = transfer(client, "alice", **{field: value})
    assert (refused.status_code, refused.get_json()["field"]) == (403, field)
    assert queue.sent == []
    assert transfer(client, "sup", **{field: value}).status_code == 202


def test_an_agent_may_choose_what_is_configured(client):
    assert transfer(client, "alice", priority=5, workflowSid=WORKFLOW_SID).status_code == 202


def test_someone_else_s_task_and_a_bad_token_are_403(client, queue):
    assert transfer(client, "bob").status_code == 403
    assert transfer(client, "forged").status_code == 403
    assert queue.sent == []


# ---- the guard (defect 9) -----------------------------------------------------------------------


def test_over_the_rate_limit_is_429_with_retry_after_and_no_token_check(redis_client, queue):
    client = make_client(redis_client, queue, browser_rate_limit="3/minute")
    tokens = client.application.extensions["chat_transfer.tokens"]
    statuses = [transfer(client, "forged").status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]
    limited = transfer(client, "forged")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert len(tokens.asked) == 3
    assert client.get(f"/chats/{CHAT}", headers={"X-Flex-Token": "alice"}).status_code == 429
    # Twilio's webhooks are not browser requests: never limited.
    for n in range(5):
        assert post_signed(client, "/webhooks/taskrouter", task_event(Sid=sid("EV", n))).status_code == 204


def test_a_second_receiver_process_shares_the_count(redis_client, queue):
    one = make_client(redis_client, queue, browser_rate_limit="2/minute")
    two = make_client(redis_client, queue, browser_rate_limit="2/minute")
    assert [transfer(c, "forged").status_code for c in (one, two, one)] == [403, 403, 429]


@pytest.mark.parametrize("path", ["/transfers", f"/transfers/{'a' * 32}", f"/chats/{CHAT}"])
def test_cors_preflight_from_the_flex_origin(client, path):
    response = client.options(
        path,
        headers={
            "Origin": "https://flex.twilio.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, Idempotency-Key, X-Flex-Token",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://flex.twilio.com"
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"content-type", "idempotency-key", "x-flex-token"}
    other = client.options(
        path, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers


# ---- GET /chats/<CH> (issue 16) -----------------------------------------------------------------


def tracked_chat(redis_client) -> None:
    def events(state: ConversationState) -> None:
        state.track(TASK)
        state.accepted("alice", ALICE, "Alice", TASK)
        state.open_hold("t1", "transfer", 1_764_489_600.0)
        state.offered("bob", BOB, "Bob", sid("WT", 2))

    ConversationStore(redis_client, 3600).transition(CHAT, events)


def read_chat(client, token: str | None, sid_: str = CHAT, where: str = "header"):
    headers = {"X-Flex-Token": token} if token and where == "header" else {}
    query = {"Token": token} if token and where == "query" else {}
    response = client.get(f"/chats/{sid_}", headers=headers, query_string=query)
    check_against_description("/chats/{conversationSid}", "get", response)
    return response


def test_an_agent_in_the_chat_reads_it(client, redis_client):
    tracked_chat(redis_client)
    body = read_chat(client, "alice").get_json()
    assert body == {
        "conversationSid": CHAT,
        "tracked": True,
        "ended": False,
        "endReason": None,
        "closedBy": None,
        "customerLeft": False,
        "tasks": [
            {
                "taskSid": TASK,
                "status": "inflight",
                "reason": None,
                "assigned": True,
                "transferId": None,
                "transferMode": None,
            }
        ],
        "agents": [{"name": "Alice", "workerSid": ALICE, "taskSid": TASK}],
        "transfers": [{"id": "t1", "kind": "transfer", "openedAt": 1_764_489_600.0}],
    }
    assert read_chat(client, "bob", where="query").status_code == 200  # offered counts
    assert read_chat(client, "sup").status_code == 200


def test_who_may_not_read_a_chat_and_what_is_not_one(client, redis_client):
    tracked_chat(redis_client)
    assert read_chat(client, "forged").status_code == 403
    assert read_chat(client, None).get_json()["field"] == "Token"
    assert read_chat(client, "alice", sid("CH", 2)).get_json()["field"] == "conversationSid"  # 404
    assert read_chat(client, "alice", "CH123").status_code == 400


def test_a_worker_never_in_the_chat_is_403(redis_client, queue):
    tracked_chat(redis_client)
    TOKENS["carol"] = FlexIdentity(sid("WK", 3), "carol", [], 4e9)
    try:
        assert read_chat(make_client(redis_client, queue), "carol").status_code == 403
    finally:
        del TOKENS["carol"]


def test_the_end_s_taskrouter_check_is_on_unless_turned_off():
    """VERIFY_END_WITH_TASKROUTER is a safety guard (issue 12, defect 10): on by default."""
    assert make_settings().verify_end_with_taskrouter is True


@pytest.mark.parametrize(
    ("token", "task", "allowed"),
    [("alice", TASK, True), ("bob", TASK, False), ("sup", TASK, True), ("sup", sid("WT", 5), True)],
)
def test_one_check_of_a_token_against_a_task_for_every_endpoint_that_acts_on_one(
    client, token, task, allowed
):
    """`authorize_task`: the check POST /tasks/<taskSid>/leave (issue 15) is to make; on `worker_on_task`,
    as /transfers is."""
    from webhooks.browser import authorize_task
    from worker.domain.errors import Forbidden

    with client.application.test_request_context():
        if allowed:
            holder = authorize_task(TOKENS[token], task)
            assert holder == (ALICE if task == TASK else None)
        else:
            with pytest.raises(Forbidden):
                authorize_task(TOKENS[token], task)


@pytest.mark.parametrize("path", ["/transfers", f"/tasks/{TASK}/leave"])
def test_json_nested_too_deep_for_the_decoder_is_a_400_naming_the_body(client, queue, path: str) -> None:
    nested = "[" * 20_000 + "]" * 20_000  # under the size cap, past the decoder's recursion limit
    response = client.post(path, data=nested, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["field"] == "body"
    assert queue.sent == []
