"""POST /transfers input rules and the transfer task's attributes (CONTRACT §4, §5)."""

from __future__ import annotations

import pytest

from tests.support.settings import sid
from worker.domain.errors import InvalidInput
from worker.domain.transfer import TransferRecord, parse_transfer_request, transfer_task_attributes

GOOD = {"taskSid": sid("WT", 1), "targetSid": sid("WQ", 2), "mode": "warm", "Token": "flex-token"}


def test_a_good_request_parses_with_mode_normalised():
    request = parse_transfer_request({**GOOD, "priority": "5", "timeout": 120, "workflowSid": sid("WW", 3)})
    assert (request.mode, request.priority, request.timeout) == ("WARM", 5, 120)
    assert request.target_type == "queue"
    assert parse_transfer_request({**GOOD, "targetSid": sid("WK", 4)}).target_type == "worker"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"taskSid": None}, "taskSid"),
        ({"taskSid": sid("WK", 1)}, "taskSid"),
        ({"taskSid": "WT1234"}, "taskSid"),
        ({"targetSid": sid("WT", 2)}, "targetSid"),
        ({"targetSid": 12}, "targetSid"),
        ({"mode": "LUKEWARM"}, "mode"),
        ({"mode": None}, "mode"),
        ({"Token": ""}, "Token"),
        ({"priority": "high"}, "priority"),
        ({"priority": -1}, "priority"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"workflowSid": sid("WQ", 3)}, "workflowSid"),
    ],
)
def test_each_bad_field_is_named(change, field):
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidInput) as raised:
        parse_transfer_request(body)
    assert raised.value.field == field


def record(mode: str = "WARM", target: str = sid("WQ", 2)) -> TransferRecord:
    return TransferRecord(
        id="t1",
        task_sid=sid("WT", 1),
        target_sid=target,
        mode=mode,
        requested_by=sid("WK", 9),
        created_at=0.0,
    )


def test_transfer_attributes_keep_every_original_attribute_and_add_routing_fields():
    original = {
        "conversationSid": sid("CH", 1),
        "name": "Jane",
        "customers": {"email": "jane@example.com"},
        "chatTransferData": {"transferTaskSid": sid("WT", 0)},
    }
    attributes = transfer_task_attributes(
        original,
        original_task_sid=sid("WT", 1),
        record=record(),
        target_name="Sales",
        transferring_contact_uri="client:alice",
        workers_in_chat=[sid("WK", 9)],
    )
    assert attributes["name"] == "Jane" and attributes["customers"] == {"email": "jane@example.com"}
    assert attributes["conversationSid"] == sid("CH", 1)
    assert "chatTransferData" not in attributes
    assert attributes["transferTargetSid"] == sid("WQ", 2)
    assert attributes["transferTargetType"] == "queue"
    assert attributes["transferQueueName"] == "Sales"
    assert attributes["ignoreWorkerContactUri"] == "client:alice"
    assert attributes["workerSidsInConversation"] == [sid("WK", 9)]
    assert attributes["conversations"] == {"conversation_id": sid("WT", 1)}
    assert attributes["transferredFromTaskSid"] == sid("WT", 1)
    assert attributes["transferType"] == "WARM"


def test_a_worker_target_has_no_queue_name_and_reporting_id_is_kept():
    attributes = transfer_task_attributes(
        {"conversations": {"conversation_id": "WT-first"}},
        original_task_sid=sid("WT", 1),
        record=record("COLD", sid("WK", 5)),
        target_name="Bob",
        transferring_contact_uri=None,
        workers_in_chat=[],
    )
    assert attributes["transferTargetType"] == "worker"
    assert attributes["transferQueueName"] == ""
    assert attributes["conversations"]["conversation_id"] == "WT-first"
    assert attributes["transferType"] == "COLD"
