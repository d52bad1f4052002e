"""A transfer whose job gives up (a dead letter) settles as failed, as a refused transfer does.

It used to stay `pending` for the record's 7 days: `GET /transfers/<id>` said pending, the task's
marker answered every new `POST /transfers` with 409 (rule 10), and the chat's hold stayed open.
The Celery task runs for real here (eagerly: its retries run at once), over fakeredis and the
fake Twilio.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import fakeredis
import pytest

from tests.support.drainers import deps_for
from tests.support.fake_twilio import FakeTwilio
from tests.support.settings import import_worker_tasks, sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.task_queue import RUN_TRANSFER
from worker.adapters.transfer_store import Opened
from worker.adapters.twilio_gateway import TwilioRejected
from worker.domain.transfer import TransferRecord, TransferStatus
from worker.handlers.deps import Deps
from worker.handlers.transfers import give_up_transfer, run_transfer

CH = sid("CH", 0x7)
ORIGINAL, AGENT, TARGET = sid("WT", 0x1), sid("WK", 0x1), sid("WK", 0x2)
TRANSFER_ID = "d" * 32


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return import_worker_tasks(monkeypatch)


class World:
    """A chat with its agent's task tracked, and a transfer of that task opened as `POST /transfers`
    opens it (the task's pending marker taken)."""

    def __init__(self, network: Callable[[str, Callable[[], Any]], Any] | None = None) -> None:
        self.twilio = FakeTwilio(network) if network else FakeTwilio()
        self.twilio.add_task(ORIGINAL, "assigned", conversationSid=CH)
        self.twilio.workers[TARGET] = {"full_name": "Bob Brown"}
        store = ConversationStore(fakeredis.FakeRedis(), ttl_after_end=3600)
        self.deps: Deps = deps_for("worker", store=store, twilio=self.twilio, clock=time.time)
        self.deps.store.transition(CH, lambda s: s.track(ORIGINAL))
        assert self.deps.transfers.open(self.request(TRANSFER_ID)).outcome is Opened.OPENED

    @staticmethod
    def request(transfer_id: str) -> TransferRecord:
        return TransferRecord(transfer_id, ORIGINAL, TARGET, "WARM", AGENT, created_at=time.time())

    def record(self) -> TransferRecord:
        record = self.deps.transfers.load(TRANSFER_ID)
        assert record is not None
        return record

    def chat(self) -> dict[str, Any]:
        """What the chat was left with: its holds (a requeue is one), failures, notices queued and posted."""
        state = self.deps.store.load(CH)
        assert state is not None
        return {
            "open holds": state.open_holds(),
            "holds": {hold_id: hold.state for hold_id, hold in state.holds.items()},
            "notices": list(state.notices),
            "posted": self.twilio.notices(CH),
            "failures": [failure["hold"] for failure in state.failures],
        }

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.deps.redis.lrange("cft:dead-letters", 0, -1)]

    def run_job(self, tasks: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
        """The Celery task `run_transfer`, retried until it gives up (eagerly: no broker)."""
        monkeypatch.setattr(tasks, "process_deps", lambda: self.deps)
        tasks.run_transfer.apply(args=[{"transferId": TRANSFER_ID}])


def raising_on(call: str) -> Callable[[str, Callable[[], Any]], Any]:
    """A Twilio whose `call` raises something no handler expects, every time, before it lands."""

    def network(name: str, effect: Callable[[], Any]) -> Any:
        if name == call:
            raise TypeError(f"{name}: 'NoneType' object is not subscriptable")
        return effect()

    return network


def refused_transfer_chat() -> dict[str, Any]:
    """The chat after an ordinary failed transfer: Twilio refused the task's creation (a 4xx)."""
    world = World()
    world.twilio.refuse["create_task"] = TwilioRejected(400, 20001, "Invalid Attributes")
    assert run_transfer(TRANSFER_ID, world.deps) == "failed"
    return world.chat()


@pytest.mark.parametrize("call", ["fetch_task", "create_task"])  # before the hold, and after it
def test_a_dead_lettered_transfer_settles_as_failed(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    world = World(raising_on(call))
    world.run_job(tasks, monkeypatch)

    [letter] = world.dead_letters()
    assert letter["task"] == RUN_TRANSFER and "TypeError" in letter["error"]
    record = world.record()
    attempts = tasks.SETTINGS.outbox_max_attempts
    assert (record.status, record.reason) == (
        TransferStatus.FAILED,
        f"gave up after {attempts} attempts: TypeError",
    )
    # The chat is left as a refused transfer leaves it: the hold released, nothing announced.
    expected = refused_transfer_chat() if call == "create_task" else World().chat()
    assert world.chat() == expected
    assert world.twilio.tasks_marked("transferId", TRANSFER_ID) == []
    # The task may be transferred again.
    assert world.deps.transfers.open(World.request("e" * 32)).outcome is Opened.OPENED


def test_giving_up_again_or_retrying_the_dead_letter_changes_nothing(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops import cli
    from worker.celery_app import app

    world = World(raising_on("create_task"))
    world.run_job(tasks, monkeypatch)
    settled, chat, calls = world.record(), world.chat(), list(world.twilio.calls)

    # The same dead letter recorded twice: its give-up again.
    assert give_up_transfer(TRANSFER_ID, 9, TypeError("again"), world.deps) == "nothing to do"
    # `chat-transfer dead-letters retry`: the letter is taken off the list, nothing is sent.
    sent: list[str] = []
    monkeypatch.setattr(cli, "_redis_client", lambda: world.deps.redis)
    monkeypatch.setattr(app, "send_task", lambda name, **_: sent.append(name))
    assert cli.cmd_dead_letters(argparse.Namespace(action="retry", index=0)) == 0
    assert sent == [] and world.dead_letters() == []
    out = capsys.readouterr().out
    assert f"not requeued: transfer {TRANSFER_ID} has settled as failed (gave up after" in out
    # A copy of the job that runs all the same (sent before the letter was taken) does nothing.
    assert run_transfer(TRANSFER_ID, world.deps) == "nothing to do"

    assert (world.record(), world.chat()) == (settled, chat)
    assert world.twilio.calls == calls and world.twilio.tasks_marked("transferId", TRANSFER_ID) == []


def test_a_transfer_whose_task_was_created_stays_pending_when_its_job_gives_up(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task exists and is announced; writing `chatTransferData` keeps raising. Failing the
    transfer would free the task for a second one while the first is offered: the dead letter's
    retry finishes it instead."""
    world = World(raising_on("update_task_attributes"))
    world.run_job(tasks, monkeypatch)

    assert len(world.dead_letters()) == 1
    [task_sid] = world.twilio.tasks_marked("transferId", TRANSFER_ID)
    record = world.record()
    assert (record.status, record.transfer_task_sid) == (TransferStatus.PENDING, task_sid)
    assert world.chat()["holds"] == {TRANSFER_ID: "created"}
    assert world.deps.transfers.open(World.request("e" * 32)).outcome is Opened.PENDING


def test_a_task_created_but_not_recorded_is_found_by_its_marker_before_giving_up() -> None:
    """The job's last run created the task and lost Twilio's answer: the record says only `hold`."""

    def answer_lost(name: str, effect: Callable[[], Any]) -> Any:
        outcome = effect()
        if name == "create_task":
            raise TypeError("create_task: the answer could not be read")
        return outcome

    world = World(answer_lost)
    with pytest.raises(TypeError):
        run_transfer(TRANSFER_ID, world.deps)
    assert world.record().steps == ["hold"] and world.record().transfer_task_sid is None

    assert give_up_transfer(TRANSFER_ID, 1, TypeError("lost"), world.deps) == "left pending"
    assert world.record().status == TransferStatus.PENDING
    assert world.chat()["open holds"] == [TRANSFER_ID]


def test_a_give_up_that_cannot_look_for_the_task_leaves_the_transfer_pending(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether an earlier run created the task is unknown: failing it could allow a second one."""

    def lookups_fail(name: str, effect: Callable[[], Any]) -> Any:
        if name in ("create_task", "tasks_marked"):
            raise TypeError(f"{name}: unreadable")
        return effect()

    world = World(lookups_fail)
    world.run_job(tasks, monkeypatch)

    assert len(world.dead_letters()) == 1
    assert world.record().status == TransferStatus.PENDING
    assert world.chat()["open holds"] == [TRANSFER_ID]
