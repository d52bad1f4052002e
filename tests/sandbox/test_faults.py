"""Fault modes do what they say, deterministically for a seed, and are counted."""

import json
import time

import pytest
from twilio.base.exceptions import TwilioRestException

from sandbox import Sandbox
from sandbox.cli import build_parser, make_sandbox

from .conftest import twilio_client


def create_tasks(sb, flex, n):
    tasks = twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).tasks
    outcome = []
    for i in range(n):
        try:
            tasks.create(workflow_sid=flex.assign_to_anyone_workflow_sid, attributes=json.dumps({"i": i}))
            outcome.append("ok")
        except TwilioRestException as err:
            outcome.append(err.status)
    return outcome


def test_429_answers_are_twilio_shaped_and_change_nothing(sb, flex):
    sb.faults.configure(rate_429=1.0, path=r"^/taskrouter/.*/Tasks$", retry_after=3)
    with pytest.raises(TwilioRestException) as err:
        twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).tasks.create(
            workflow_sid=flex.assign_to_anyone_workflow_sid, attributes="{}"
        )
    assert err.value.status == 429 and err.value.code == 20429
    last = sb.requests[-1]
    assert last.status == 429 and last.response_headers["Retry-After"] == "3" and last.fault == "http_429"
    assert sb.tasks() == []
    # other paths are untouched
    assert twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).fetch().sid == flex.workspace_sid
    assert sb.faults.counts["http_429"] == 1


def test_rates_are_deterministic_for_a_seed():
    def run(seed):
        with Sandbox(seed=seed) as sb:
            flex = sb.seed_flex(workers=[{"name": "alice"}])
            sb.faults.configure(rate_429=0.3, rate_500=0.2, seed=seed)
            return create_tasks(sb, flex, 20), dict(sb.faults.counts)

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    outcomes, counts = first
    assert counts.get("http_429", 0) == outcomes.count(429) and counts.get("http_500", 0) == outcomes.count(
        500
    )
    assert 0 < outcomes.count("ok") < 20


def test_500_after_commit_applies_the_change(sb, flex):
    sb.faults.configure(rate_500_after_commit=1.0, path="/Tasks$", methods=["POST"])
    assert create_tasks(sb, flex, 1) == [500]
    assert len(sb.tasks()) == 1  # the task exists although the caller saw a 500
    assert sb.faults.counts["http_500_after_commit"] == 1


def test_fail_next_is_exact(sb, flex):
    sb.faults.fail_next(2, status=500, path="/Tasks$")
    assert create_tasks(sb, flex, 3) == [500, 500, "ok"]
    assert sb.faults.counts["http_500"] == 2
    assert [e["scripted"] for e in sb.faults.log] == [True, True]


def test_latency(sb, flex):
    sb.faults.configure(latency=0.2, path="/Workspaces/WS[0-9a-f]+$")
    started = time.monotonic()
    twilio_client(sb).taskrouter.v1.workspaces(flex.workspace_sid).fetch()
    assert time.monotonic() - started >= 0.2
    assert sb.faults.counts["latency"] == 1


def test_dropped_webhooks(sb, flex, receiver):
    sb.set_event_callback(receiver.url + "/tr")
    sb.faults.configure(webhook_drop_rate=1.0)
    sb.start_chat("ann")
    assert sb.wait_idle()
    assert receiver.received == []
    deliveries = sb.deliveries(kind="taskrouter")
    assert deliveries and all(d.fault == "drop" and d.attempts == [] for d in deliveries)
    assert sb.faults.counts["webhook_dropped"] == len(deliveries)


def test_duplicated_webhooks_carry_the_same_token_and_sid(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv", filters=["onMessageAdded"])
    sb.faults.configure(webhook_duplicate_rate=1.0, webhook_kinds=["conversations"])
    chat = sb.start_chat("bo", first_message="hi")
    assert sb.wait_idle()
    first, second = receiver.received
    assert first.form == second.form
    assert first.headers["I-Twilio-Idempotency-Token"] == second.headers["I-Twilio-Idempotency-Token"]
    assert first.headers["X-Twilio-Signature"] == second.headers["X-Twilio-Signature"]
    assert sb.faults.counts["webhook_duplicated"] == 1 and chat


def test_reordered_webhooks(sb, flex, receiver):
    sb.set_conversations_webhook(receiver.url + "/conv", filters=["onMessageAdded"])
    sb.faults.configure(webhook_reorder_rate=1.0)
    chat = sb.start_chat("cy", first_message=None)
    sb.pause_webhooks()  # queue them all first, so the test does not depend on timing
    for body in ("1", "2", "3", "4"):
        sb.customer_message(chat.conversation_sid, body)
    sb.resume_webhooks()
    assert sb.wait_idle()
    assert [r.form["Body"] for r in receiver.received] == ["2", "1", "4", "3"]
    assert sb.faults.counts["webhook_reordered"] == 4


def test_reset_clears_faults(sb, flex):
    sb.faults.configure(rate_500=1.0)
    sb.faults.reset()
    assert create_tasks(sb, flex, 2) == ["ok", "ok"]
    assert dict(sb.faults.counts) == {}


def test_unknown_fault_option_is_refused(sb):
    with pytest.raises(TypeError):
        sb.faults.configure(rate_418=1.0)


def test_cli_flags_configure_faults():
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--rate-429",
            "0.25",
            "--rate-500",
            "0.1",
            "--fault-path",
            "/Tasks",
            "--latency",
            "0.01",
            "--webhook-drop",
            "0.2",
            "--webhook-duplicate",
            "0.1",
            "--webhook-reorder",
            "0.05",
            "--seed",
            "9",
            "--seed-flex",
            "--worker",
            "alice:sales",
            "--queue",
            "Sales=routing.skills HAS 'sales'",
        ]
    )
    sb, info = make_sandbox(args)
    cfg = sb.faults.config
    assert (cfg.rate_429, cfg.rate_500, cfg.path, cfg.latency) == (0.25, 0.1, "/Tasks", 0.01)
    assert (cfg.webhook_drop_rate, cfg.webhook_duplicate_rate, cfg.webhook_reorder_rate) == (0.2, 0.1, 0.05)
    assert set(info["queues"]) == {"Everyone", "Sales"} and set(info["workers"]) == {"alice"}
    assert info["TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID"].startswith("WW")
