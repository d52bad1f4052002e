"""Two real drainers, a clock the test controls, and a Twilio that is slow, fails and answers late
(issue 12, defect 1; CONTRACT §6 rule 11).

Each drainer is `worker.handlers.outbox.drain` itself, run on a thread that only moves when the
test says so (`tests.support.interleave`): it pauses at every store transition and every Twilio
call. Hypothesis then chooses, step by step, what happens next — an event delivered, a drainer
started or resumed, the clock moved on (to a lease's expiry, past a call's timeout, far away: the
worker paused), a request given up on landing late — and how each call goes: answered in time,
429, 500 before or after the change was made, or no answer at all, the change then landing later
or never. That covers a drainer stalled past its lease, a new drainer taking over, and Twilio
applying a request after we gave up on it, at every point of the drain.

What the model assumes of the world, no more: a call's caller hears back within the HTTP timeout
T (the client's bound), and a request takes effect, if ever, within T + S of being sent (S: the
settle window). Checked: every notice is posted at most once, the chat is closed at most once and
`chat-ended` goes before the close; once the drainers have finished, nothing is lost — every
notice is there and the chat is closed.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fakeredis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.drainers import PausingStore, deps_for
from tests.support.fake_twilio import FakeTwilio
from tests.support.interleave import Actor, Scheduler, SimClock
from tests.support.settings import sid
from worker.adapters.http_client import TwilioTransient
from worker.domain.model import CloseReason, ConversationState
from worker.handlers.deps import Deps
from worker.handlers.outbox import drain

CH = sid("CH", 0xD)
HTTP_TIMEOUT = 10.0  # T
SETTLE = 10.0  # S
FATES = ["ok"] * 6 + ["timeout-late"] * 3 + ["timeout-never", "429", "500", "500-after-commit"]
MAX_STEPS = 160


@dataclass(order=True)
class Call:
    """A Twilio request in flight: when it takes effect (if ever) and when its caller hears back."""

    land_at: float
    n: int
    name: str = field(compare=False)
    effect: Callable[[], Any] = field(compare=False)
    start: float = field(compare=False, default=0.0)
    answer_at: float = field(compare=False, default=0.0)
    fate: str = field(compare=False, default="ok")
    landed: bool = field(compare=False, default=False)
    outcome: Any = field(compare=False, default=None)
    error: BaseException | None = field(compare=False, default=None)


class SlowTwilio:
    """The fake Twilio's network: every call pauses its caller until the test answers it."""

    def __init__(self, scheduler: Scheduler, clock: SimClock) -> None:
        self.scheduler = scheduler
        self.clock = clock
        self.in_flight: list[Call] = []  # a heap by landing time
        self.numbers = itertools.count()
        self.late_landings = 0  # requests that took effect after their caller gave up on them

    def __call__(self, name: str, effect: Callable[[], Any]) -> Any:
        call = Call(float("inf"), next(self.numbers), name, effect, start=self.clock.now)
        self.scheduler.pause(("call", call))
        if not call.landed and call.fate in ("ok", "500-after-commit"):
            self.land(call)  # answered: it took effect before the answer left
        if call.fate in ("timeout-late", "timeout-never"):
            raise TwilioTransient(None, None)
        if call.fate in ("429", "500"):
            raise TwilioTransient(int(call.fate), None)
        if call.error is not None:
            raise call.error
        if call.fate == "500-after-commit":
            raise TwilioTransient(500, None)
        return call.outcome

    def decide(self, call: Call, fate: str, fraction: float) -> None:
        """Fix when `call` lands and is answered, within the model's bounds (T, T + S)."""
        start = call.start
        call.fate = fate
        call.answer_at = start + (HTTP_TIMEOUT if fate.startswith("timeout") else fraction * HTTP_TIMEOUT)
        if fate in ("ok", "500-after-commit"):
            call.land_at = start + fraction * (call.answer_at - start)
        elif fate == "timeout-late":
            call.land_at = start + fraction * (HTTP_TIMEOUT + SETTLE)
        if call.land_at != float("inf"):
            heapq.heappush(self.in_flight, call)

    def land(self, call: Call) -> None:
        if call.landed:
            return
        call.landed = True
        self.late_landings += call.fate == "timeout-late" and self.clock.now > call.answer_at
        try:
            call.outcome = call.effect()
        except Exception as error:  # a 4xx: the caller hears it, if it still listens
            call.error = error

    def advance_to(self, when: float) -> None:
        """Move the clock on, landing on the way every request due by then, in time order."""
        while self.in_flight and self.in_flight[0].land_at <= when:
            call = heapq.heappop(self.in_flight)
            self.clock.now = max(self.clock.now, call.land_at)
            self.land(call)
        self.clock.now = max(self.clock.now, when)


@dataclass
class World:
    scheduler: Scheduler
    clock: SimClock
    network: SlowTwilio
    twilio: FakeTwilio
    store: PausingStore
    deps: dict[str, Deps]
    drains: dict[str, Actor | None]
    events: list[tuple[str, int]]
    agents: int

    def state(self) -> ConversationState:
        state = self.store.load(CH)
        assert state is not None
        return state

    def check_once(self) -> None:
        for actor in self.drains.values():
            # The drainer leaves only on Redis trouble: whatever Twilio does is recorded on the item.
            assert actor is None or actor.error is None, repr(actor.error)
        conversation = self.twilio.conversation(CH)
        doubled = {key: n for key, n in Counter(self.twilio.notices(CH)).items() if n > 1}
        assert not doubled, f"posted twice: {doubled}"
        assert conversation.closes <= 1, "closed twice"
        if conversation.closes:
            assert self.twilio.notices(CH)[-1] == "chat-ended", "chat-ended not last, or after the close"

    def deliver(self, kind: str, n: int) -> None:
        task, agent = sid("WT", 0x40 + n), f"agent-{n}"
        if kind == "created":
            self.twilio.add_task(task, conversationSid=CH)
            self.store.transition(CH, lambda s: s.track(task))
        elif kind == "accepted":
            self.store.transition(CH, lambda s: s.accepted(agent, sid("WK", n), f"Agent {n}", task))
        else:
            self.twilio.tasks[task].status = "completed"  # TaskRouter first, then its event
            self.store.transition(CH, lambda s: s.close(task, CloseReason.COMPLETED))

    def start_drain(self, name: str) -> None:
        self.drains[name] = self.scheduler.spawn(name, lambda: drain(self.deps[name], CH))

    def resume(self, actor: Actor, data: st.DataObject | None) -> None:
        """Let `actor` go on to its next pause. A call it makes is decided as it is sent: when it
        lands and when its answer comes back (the caller then waits for that answer)."""
        label = actor.pause_label
        if label[0] == "call":
            self.network.advance_to(label[1].answer_at)
        self.scheduler.resume(actor)
        label = actor.pause_label
        if label is not None and label[0] == "call":
            fate = data.draw(st.sampled_from(FATES), label="fate") if data else "ok"
            fraction = data.draw(st.floats(0.0, 1.0), label="when") if data else 0.0
            self.network.decide(label[1], fate, fraction)
        self.check_once()

    def interesting_times(self) -> list[float]:
        now = self.clock.now
        times = [now + 0.5, now + HTTP_TIMEOUT + SETTLE + 1, now + 120.0]
        state = self.store.load(CH)
        lease = state.lease if state is not None else None
        if lease is not None:
            times.append(max(now, lease.until + 0.01))
        times += [call.land_at for call in self.network.in_flight]
        return times

    def settle(self) -> None:
        """No more faults: let every drainer finish, every request land, the outbox drain."""
        for _ in range(200):
            for name, actor in self.drains.items():
                while actor is not None and not actor.done:
                    self.resume(actor, None)
                self.drains[name] = None
            self.network.advance_to(self.clock.now + HTTP_TIMEOUT + SETTLE + 1)
            state = self.state()
            if not state.outbox:
                return
            self.network.advance_to(
                max(self.clock.now, *(getattr(i, "not_before", 0.0) for i in state.outbox[:1])) + 1
            )
            self.start_drain("A")
        raise AssertionError(f"the outbox never drained: {self.state().outbox}")


def make_world(agents: int, events: list[tuple[str, int]]) -> World:
    scheduler, clock = Scheduler(), SimClock()
    network = SlowTwilio(scheduler, clock)
    twilio = FakeTwilio(network)
    store = PausingStore(scheduler, fakeredis.FakeRedis())
    options = {
        "twilio_http_timeout_seconds": HTTP_TIMEOUT,
        "outbox_settle_seconds": SETTLE,
        "outbox_max_attempts": 10_000,  # this test is about doubles and losses, not about giving up
        "task_max_retries": 10_000,
    }
    deps = {owner: deps_for(owner, store=store, twilio=twilio, clock=clock, **options) for owner in "AB"}
    return World(scheduler, clock, network, twilio, store, deps, {"A": None, "B": None}, events, agents)


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[tuple[str, int]]]:
    """1-3 agents: every task created first, then each accepted before it completes."""
    agents = draw(st.integers(1, 3))
    pending = {n: ["accepted", "completed"] for n in range(agents)}
    events = [("created", n) for n in range(agents)]
    while any(pending.values()):
        n = draw(st.sampled_from([n for n, left in pending.items() if left]))
        events.append((pending[n].pop(0), n))
    return agents, events


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), data=st.data())
def test_two_drainers_and_a_late_twilio_post_each_notice_once_and_close_once(history, data) -> None:
    agents, events = history
    world = make_world(agents, list(events))
    try:
        for _step in range(MAX_STEPS):
            options: list[tuple[Any, ...]] = [("event",)] if world.events else []
            options += [("resume", n) for n, a in world.drains.items() if a is not None and not a.done]
            options += [("drain", name) for name, a in world.drains.items() if a is None or a.done]
            options += [("advance",)]
            choice = data.draw(st.sampled_from(options), label="step")
            if choice[0] == "event":
                world.deliver(*world.events.pop(0))
            elif choice[0] == "resume":
                actor = world.drains[choice[1]]
                assert actor is not None
                world.resume(actor, data)
            elif choice[0] == "drain":
                world.start_drain(choice[1])
            else:
                world.network.advance_to(data.draw(st.sampled_from(world.interesting_times()), label="to"))
            world.check_once()
            if not world.events and data.draw(st.integers(0, 20), label="stop") == 0:
                break
        while world.events:
            world.deliver(*world.events.pop(0))
        world.settle()
        world.check_once()
    finally:
        world.scheduler.abort_all()
    counters = world.store.redis.hgetall("cft:metrics:counters")
    event(f"leases lost: {min(int(counters.get(b'outbox_leases_lost', 0)), 2)}")
    event(f"late landings: {min(world.network.late_landings, 2)}")

    expected = {
        f"{kind}:{sid('WT', 0x40 + n)}:agent-{n}" for n in range(agents) for kind in ("joined", "left")
    }
    assert Counter(world.twilio.notices(CH)) == Counter(expected | {"chat-ended"}), "a notice was lost"
    assert world.twilio.conversation(CH).state == "closed", "the chat was never closed"
    assert world.state().ended == "ended"
