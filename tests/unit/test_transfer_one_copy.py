"""Two copies of one transfer job never run its steps at once (issue 12, defect 5; rule 10).

A retry published while the first run is still going, or a message the broker restored after its
visibility timeout, puts two copies of `run_transfer` for one transfer on two workers. Both are
the real handler, on threads that move only when the test says (`tests.support.interleave`),
pausing at every Twilio call and store transition; hypothesis chooses the interleaving and when
the clock jumps (past the lock's expiry: a worker stalled). One transfer task is created, and the
transfer ends `created`, whatever the order.
"""

from __future__ import annotations

import time
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.drainers import PausingStore, deps_for
from tests.support.fake_twilio import FakeTwilio
from tests.support.interleave import Actor, Scheduler, SimClock
from tests.support.settings import sid
from worker.adapters.transfer_lock import TransferBusy
from worker.domain.transfer import TransferRecord, TransferStatus
from worker.handlers.deps import Deps
from worker.handlers.transfers import run_transfer

CH = sid("CH", 0x7)
ORIGINAL, AGENT, TARGET = sid("WT", 0x1), sid("WK", 0x1), sid("WK", 0x2)
TRANSFER_ID = "f" * 32


class World:
    def __init__(self) -> None:
        self.scheduler = Scheduler()
        self.clock = SimClock()
        self.twilio = FakeTwilio(self._network)
        self.twilio.add_task(ORIGINAL, "assigned", conversationSid=CH)
        self.twilio.workers[TARGET] = {"full_name": "Bob Brown"}
        store = PausingStore(self.scheduler, fakeredis.FakeRedis())
        self.copies: dict[str, Deps] = {
            name: deps_for(name, store=store, twilio=self.twilio, clock=self.clock)
            for name in ("first", "second")
        }
        self.runs: dict[str, Actor | None] = {"first": None, "second": None}
        deps = self.copies["first"]
        deps.store.transition(CH, lambda s: s.track(ORIGINAL))
        record = TransferRecord(TRANSFER_ID, ORIGINAL, TARGET, "WARM", AGENT, created_at=time.time())
        assert deps.transfers.create(record)

    def _network(self, name: str, effect: Any) -> Any:
        """A call takes effect as it is sent; its answer may take long (a stall meanwhile is a
        slow answer, which no lease can shorten: the request has landed)."""
        outcome = effect()
        self.scheduler.pause(("call", name))
        return outcome

    def start(self, name: str) -> None:
        deps = self.copies[name]
        self.runs[name] = self.scheduler.spawn(name, lambda: run_transfer(TRANSFER_ID, deps))

    def step(self, actor: Actor) -> None:
        self.scheduler.resume(actor)
        if actor.done and actor.error is not None:
            assert isinstance(actor.error, TransferBusy), repr(actor.error)  # retried later by Celery

    def created(self) -> list[str]:
        return self.twilio.tasks_marked("transferId", TRANSFER_ID)

    def record(self) -> TransferRecord:
        record = self.copies["first"].transfers.load(TRANSFER_ID)
        assert record is not None
        return record


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_two_copies_of_a_transfer_job_create_one_task(data: st.DataObject) -> None:
    world = World()
    try:
        for _ in range(80):
            options: list[tuple[str, str]] = []
            for name, actor in world.runs.items():
                options.append(("resume", name) if actor is not None and not actor.done else ("start", name))
            options.append(("stall", "120 s"))  # longer than the lock: whoever is paused has stalled
            kind, name = data.draw(st.sampled_from(options), label="step")
            if kind == "start":
                if world.record().status == TransferStatus.PENDING or data.draw(
                    st.booleans(), label="late copy"
                ):
                    world.start(name)
            elif kind == "resume":
                actor = world.runs[name]
                assert actor is not None
                world.step(actor)
            else:
                world.clock.advance(120.0)
            assert len(world.created()) <= 1, f"two transfer tasks: {world.created()}"
        for name in world.runs:  # what is left: each copy runs to its end, retried while busy
            for _ in range(5):
                actor = world.runs[name]
                if actor is None or actor.done:
                    world.start(name)
                    actor = world.runs[name]
                assert actor is not None
                while not actor.done:
                    world.step(actor)
                if actor.error is None:
                    break
                world.clock.advance(120.0)
    finally:
        world.scheduler.abort_all()
    assert len(world.created()) == 1
    assert world.record().status == TransferStatus.CREATED
    assert world.record().transfer_task_sid == world.created()[0]
    assert world.twilio.notices(CH).count(f"transfer-started:{TRANSFER_ID}") == 1


def test_a_second_copy_waits_while_the_first_holds_the_lock() -> None:
    world = World()
    world.start("first")
    first = world.runs["first"]
    assert first is not None
    while first.pause_label != ("call", "tasks_marked") and first.pause_label != ("call", "create_task"):
        world.step(first)
    world.start("second")
    second = world.runs["second"]
    assert second is not None
    while not second.done:
        world.step(second)
    assert isinstance(second.error, TransferBusy) and 0 < second.error.retry_after <= 50.0
    while not first.done:
        world.step(first)
    assert first.result == "created" and len(world.created()) == 1
