"""A Flex Conversations transfer (invite strategy) creates its task once, though TaskRouter's
listing lags and an invite's answer may be lost (issue 12, defect 6; CONTRACT rules 3, 11).

The transfer job runs in-process against the sandbox over HTTP through the real gateway (the
official twilio library); the stores are fakeredis. TaskRouter's filtered listing "lagging" is a
gateway whose `tasks_marked` finds nothing: what the old code waited on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import fakeredis
import pytest

from sandbox import Sandbox
from tests.support.settings import make_settings
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.http_client import TwilioTransient
from worker.adapters.transfer_store import TransferStore
from worker.adapters.twilio_gateway import TwilioGateway
from worker.domain.transfer import TransferRecord
from worker.handlers.deps import Deps
from worker.handlers.transfers import run_transfer

INVITES = r"^/flex-api/v1/Interactions/KD[0-9a-f]{32}/Channels/UO[0-9a-f]{32}/Invites$"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=5) as sandbox:
        yield sandbox


def lagging_deps(sb: Sandbox, setup) -> Deps:
    settings = make_settings(
        twilio_account_sid=sb.account_sid,
        twilio_auth_token=sb.auth_token,
        twilio_api_base_url=sb.base_url,
        twilio_flex_workspace_sid=setup.workspace_sid,
        twilio_flex_chat_transfer_workflow_sid=setup.chat_transfer_workflow_sid,
    )
    gateway = TwilioGateway(settings)
    gateway.tasks_marked = lambda _attribute, _value: []  # type: ignore[method-assign]
    client = fakeredis.FakeRedis()
    return Deps(
        settings=settings,
        store=ConversationStore(client, 3600),
        gateway=gateway,
        redis=client,
        transfers=TransferStore(client),
    )


def invite_tasks(sb: Sandbox, conversation_sid: str) -> list[str]:
    return [
        t["sid"]
        for t in sb.tasks()
        if json.loads(t["attributes"]).get("flexChannelInviteSid")
        and json.loads(t["attributes"]).get("conversationSid") == conversation_sid
    ]


def a_transfer(sb: Sandbox) -> tuple[Deps, TransferRecord, str]:
    setup = sb.seed_flex(queues={"Sales": "1==1"}, workers=[{"name": "alice"}, {"name": "bob"}])
    chat = sb.start_chat("erin", interactions=True)
    offer = sb.pending_reservation(task_sid=chat.task_sid)
    sb.accept(offer["sid"])
    deps = lagging_deps(sb, setup)
    record = TransferRecord(
        id="0123456789abcdef0123456789abcdef",
        task_sid=chat.task_sid,
        target_sid=setup.queues["Sales"],
        mode="WARM",
        requested_by=offer["worker_sid"],
        created_at=time.time(),
        timeout=120,
    )
    deps.transfers.create(record)
    return deps, record, chat.conversation_sid


def test_the_invite_s_task_is_read_from_its_answer(sb):
    deps, record, conversation = a_transfer(sb)
    assert run_transfer(record.id, deps) == "created"
    [task] = invite_tasks(sb, conversation)
    assert deps.transfers.load(record.id).transfer_task_sid == task
    assert json.loads(sb.task(task)["attributes"])["transferId"] == record.id
    assert sb.task(task)["timeout"] == 120


def test_an_invite_whose_answer_was_lost_is_found_on_the_channel_not_sent_again(sb):
    deps, record, conversation = a_transfer(sb)
    sb.faults.fail_next(status=500, path=INVITES, method="POST", after_commit=True)
    with pytest.raises(TwilioTransient):
        run_transfer(record.id, deps)  # Twilio made the invite; the answer said 500
    assert len(invite_tasks(sb, conversation)) == 1
    assert run_transfer(record.id, deps) == "created"  # Celery's retry
    [task] = invite_tasks(sb, conversation)
    assert deps.transfers.load(record.id).transfer_task_sid == task
