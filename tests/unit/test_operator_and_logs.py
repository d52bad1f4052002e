"""`inspect`, dead letters, and the JSON logs' redaction."""

from __future__ import annotations

import json
import logging

import fakeredis

from ops.chat_report import render_chat
from tests.support.settings import sid
from worker.adapters.dead_letters import DeadLetters
from worker.domain.chat_view import describe_chat
from worker.domain.model import CloseReason, ConversationState
from worker.logs import JsonFormatter, redact


def test_inspect_explains_an_open_chat_and_an_ended_one():
    state = ConversationState(sid=sid("CH", 1))
    state.track(sid("WT", 1))
    state.accepted("alice", sid("WK", 1), "Alice", sid("WT", 1))
    view = describe_chat(state, state.sid)
    assert view["state"] == "open: 1 task(s) in flight"
    assert view["agentsInChat"] == [{"name": "Alice", "workerSid": sid("WK", 1), "taskSid": sid("WT", 1)}]
    assert "Alice" in render_chat(view)

    state.close(sid("WT", 1), CloseReason.COMPLETED)
    assert describe_chat(state, state.sid)["state"].startswith("ending")
    assert state.confirm_end([]) is True
    ended = describe_chat(state, state.sid)
    assert ended["state"].startswith("ended (last task")
    assert ended["tasks"][sid("WT", 1)] == {"status": "closed", "reason": "completed", "assigned": True}


def test_inspect_of_an_untracked_chat_says_so():
    view = describe_chat(None, sid("CH", 2))
    assert view["tracked"] is False
    assert "not tracked" in render_chat(view)


def test_dead_letters_list_and_take():
    letters = DeadLetters(fakeredis.FakeRedis())
    letters.add({"task": "a", "payload": {"x": 1}, "error": "e1"})
    letters.add({"task": "b", "payload": None, "error": "e2"})
    assert [e["task"] for e in letters.list()] == ["a", "b"]
    assert letters.take(1)["task"] == "b"
    assert letters.take(5) is None
    assert [e["task"] for e in letters.list()] == ["a"]


def test_secrets_never_reach_the_log_line():
    assert redact({"auth_token": "abc", "TaskSid": "WT1", "Token": "eyJa.eyJb.c"}) == {
        "auth_token": "***",
        "TaskSid": "WT1",
        "Token": "***",
    }
    record = logging.makeLogRecord(
        {
            "msg": "header Basic QUM6c2VjcmV0 and jwt eyJhbGciOi.eyJzdWIiOi.sig",
            "levelno": 20,
            "levelname": "INFO",
        }
    )
    record.conversation_sid = sid("CH", 3)
    record.flex_token = "eyJhbGciOi.eyJzdWIiOi.sig"
    line = json.loads(JsonFormatter().format(record))
    assert "QUM6c2VjcmV0" not in line["msg"] and "eyJzdWIiOi" not in line["msg"]
    assert line["conversation_sid"] == sid("CH", 3)
    assert line["flex_token"] == "***"


def test_lines_logged_while_handling_carry_the_sids_being_worked_on():
    from worker.logs import log_context

    record = logging.makeLogRecord({"msg": "twilio call", "levelno": 20, "levelname": "INFO"})
    with log_context(conversation_sid=sid("CH", 4), task_sid=None), log_context(transfer_id="t1"):
        line = json.loads(JsonFormatter().format(record))
    assert (line["conversation_sid"], line["transfer_id"]) == (sid("CH", 4), "t1")
    assert "task_sid" not in line
    assert "conversation_sid" not in json.loads(JsonFormatter().format(record))
