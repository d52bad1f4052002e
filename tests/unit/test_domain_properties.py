"""Property-based tests of the last-task rule: any interleaving, any duplication, one end.

Hypothesis builds a chat with 1-4 tasks (the original, then tasks created directly or by a
transfer), the agents who take them, and the set of events Twilio and our own transfer handler
produce for it. The events are then applied in an arbitrary order that respects only real
causality (a transfer's hold is opened before its task exists and before the transferring task
can close), with random redeliveries, and - in the second property - the real drainer
(`worker.handlers.outbox.drain`, on the real store over fakeredis) working the outbox between any
two events, one step (a store transition or a Twilio call) at a time, against a fake Twilio whose
TaskRouter says "in flight" for every existing task whose close event has not been applied yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.drainers import PausingStore, deps_for
from tests.support.fake_twilio import FakeTwilio
from tests.support.interleave import Actor, Scheduler, SimClock
from tests.support.settings import sid
from worker.adapters.twilio_gateway import TwilioRejected
from worker.domain.model import (
    CLOSED,
    INFLIGHT,
    CloseReason,
    ConversationState,
    OutboxKind,
    TransferInfo,
    Unanswered,
)
from worker.handlers.outbox import drain

CH = sid("CH", 7)
ANSWERED_REASONS = [CloseReason.WRAPUP, CloseReason.COMPLETED]
UNANSWERED_REASONS = [CloseReason.CANCELED, CloseReason.TIMED_OUT, CloseReason.DELETED]
PROPERTY_SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

Event = tuple[Any, ...]


def task_sid(i: int) -> str:
    return sid("WT", 0x100 + i)


def agent(i: int) -> str:
    return f"agent-{i}"


@dataclass
class TaskPlan:
    index: int
    via: str  # "direct" | "transfer" | "failed-transfer" (the hold failed: no task at all)
    from_task: int | None
    mode: str
    outcome: str  # "answered" | "unanswered" | "open"
    closes: list[CloseReason]
    created_event: bool
    added: bool
    removed: bool

    @property
    def sid(self) -> str:
        return task_sid(self.index)

    @property
    def hold(self) -> str:
        return f"TR{self.index}"

    @property
    def exists(self) -> bool:
        return self.via != "failed-transfer"

    def transfer_info(self) -> TransferInfo | None:
        if self.via != "transfer":
            return None
        assert self.from_task is not None
        return TransferInfo(self.hold, self.mode, task_sid(self.from_task), f"Target {self.index}")


@dataclass
class Scenario:
    tasks: list[TaskPlan]
    events: list[Event]  # in a causal order: the canonical delivery
    prerequisites: dict[Event, set[Event]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 4))
    plans: list[TaskPlan] = []
    for i in range(count):
        outcome = draw(st.sampled_from(["answered", "answered", "unanswered", "open"]))
        if outcome == "open" and not draw(st.booleans()):
            outcome = "open-unanswered"  # still waiting in a queue
        if outcome == "answered":
            closes = draw(st.lists(st.sampled_from(ANSWERED_REASONS), min_size=1, max_size=2, unique=True))
        elif outcome == "unanswered":
            closes = [draw(st.sampled_from(UNANSWERED_REASONS))]
        else:
            closes = []
        # Only an agent holding their task can transfer it.
        holders = [p.index for p in plans if p.exists and p.outcome in ("answered", "open")]
        via = "direct"
        if holders:
            via = draw(st.sampled_from(["direct", "transfer", "transfer", "failed-transfer"]))
        accepted = outcome in ("answered", "open")
        plans.append(
            TaskPlan(
                index=i,
                via=via,
                from_task=draw(st.sampled_from(holders)) if via != "direct" else None,
                mode=draw(st.sampled_from(["WARM", "COLD"])),
                outcome=outcome,
                closes=closes,
                # A task.created may be lost (the Studio call or a transfer tracks it instead).
                created_event=draw(st.booleans()) if via == "transfer" else draw(st.integers(0, 9)) > 0,
                added=accepted and draw(st.booleans()),
                # An agent leaves the conversation when their task ends (Flex removes them).
                removed=accepted and bool(closes) and draw(st.booleans()),
            )
        )
    events: list[Event] = []
    prerequisites: dict[Event, set[Event]] = {}

    def add(event: Event, *after: Event) -> None:
        events.append(event)
        prerequisites[event] = set(after)

    for plan in plans:
        hold_opened: tuple[Event, ...] = ()
        if plan.via != "direct":
            add(("open_hold", plan.index))
            hold_opened = (("open_hold", plan.index),)
        if plan.via == "failed-transfer":
            add(("hold_failed", plan.index), *hold_opened)
            continue
        if plan.via == "transfer":
            # Our transfer handler creates the task at TaskRouter, then records it on the chat;
            # TaskRouter's events about the task can only follow its creation.
            add(("taskrouter_create", plan.index), *hold_opened)
            hold_opened = (("taskrouter_create", plan.index),)
            add(("hold_created", plan.index), *hold_opened)
        if plan.created_event:
            add(("created", plan.index), *hold_opened)
        if plan.outcome in ("answered", "open"):
            add(("accepted", plan.index), *hold_opened)
        if plan.added:
            add(("added", plan.index), *hold_opened)
        if plan.removed:
            add(("removed", plan.index), *hold_opened)
        for reason in plan.closes:
            add(("close", plan.index, reason), *hold_opened)
    # The transferring agent is still on their task when the transfer's hold opens.
    for plan in plans:
        if plan.via != "direct":
            assert plan.from_task is not None
            for reason in plans[plan.from_task].closes:
                prerequisites[("close", plan.from_task, reason)].add(("open_hold", plan.index))
    # The canonical order must respect the prerequisites: order by them, stably.
    ordered: list[Event] = []
    while len(ordered) < len(events):
        ready = next(e for e in events if e not in ordered and prerequisites[e] <= set(ordered))
        ordered.append(ready)
    return Scenario(plans, ordered, prerequisites)


class Simulation:
    """One chat, the events applied so far through the store, and the real drainer
    (`worker.handlers.outbox.drain`) on a thread that moves one step — a store transition or a
    Twilio call — when the test says so, against a fake Twilio that keeps TaskRouter's truth."""

    def __init__(self, scenario: Scenario, policy: Unanswered) -> None:
        self.scenario = scenario
        self.policy = policy
        self.scheduler = Scheduler()
        self.clock = SimClock()
        self.twilio = FakeTwilio(self._network)
        self.store = PausingStore(self.scheduler, fakeredis.FakeRedis())
        self.deps = deps_for("drainer", store=self.store, twilio=self.twilio, clock=self.clock)
        self.drainer: Actor | None = None
        self.applied: set[Event] = set()
        self.ever_closed: set[str] = set()
        self.late_accepts: set[int] = set()
        self.violations: list[str] = []
        self.end_committed = False
        for plan in scenario.tasks:
            if plan.via == "direct":
                self.twilio.add_task(plan.sid, "pending", conversationSid=CH)

    # ---- what Twilio holds ----------------------------------------------------------------------

    @property
    def state(self) -> ConversationState:
        return self.store.load(CH) or ConversationState(sid=CH)

    @property
    def posted(self) -> list[str]:
        return self.twilio.notices(CH)

    @property
    def ends(self) -> int:
        return self.twilio.conversation(CH).closes

    @property
    def existing(self) -> set[str]:
        return set(self.twilio.tasks)

    @property
    def closed_at_taskrouter(self) -> set[str]:
        return {t.sid for t in self.twilio.tasks.values() if t.status in ("completed", "canceled")}

    @property
    def requeues(self) -> int:
        return sum(1 for t in self.twilio.tasks.values() if "requeueOf" in t.attributes)

    def _network(self, name: str, effect: Callable[[], Any]) -> Any:
        refusal = self.scheduler.pause(("call", name))
        if refusal is not None:
            raise refusal
        closed_before = self.twilio.conversation(CH).state == "closed"
        outcome = effect()
        # Noted here, asserted by the test's own thread: the drainer would take an assertion
        # raised in its call for one more failure of the item.
        if name == "post_message" and closed_before:
            self.violations.append(f"notice {self.posted[-1]} posted after the chat ended")
        if name == "post_message" and len(set(self.posted)) != len(self.posted):
            self.violations.append(f"notice {self.posted[-1]} posted twice")
        return outcome

    # ---- events --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        kind, plan = event[0], self.plan(event)
        now = float(len(self.applied))
        change: Callable[[ConversationState], Any]
        if kind == "open_hold":
            change = lambda s: s.open_hold(plan.hold, "transfer", now)  # noqa: E731
        elif kind == "taskrouter_create":
            # Not a transition: TaskRouter has the task from now on (a redelivery changes nothing).
            if plan.sid not in self.twilio.tasks:
                self.twilio.add_task(plan.sid, "pending", conversationSid=CH)
            change = lambda s: None  # noqa: E731
        elif kind == "hold_created":
            change = lambda s: s.hold_created(  # noqa: E731
                plan.hold, plan.sid, transfer=plan.transfer_info(), policy=self.policy, now=now
            )
        elif kind == "hold_failed":
            change = lambda s: s.hold_failed(plan.hold, "target refused")  # noqa: E731
        elif kind == "created":
            change = lambda s: s.track(plan.sid)  # noqa: E731
        elif kind == "accepted":
            if self.ends and event not in self.applied:
                self.late_accepts.add(plan.index)  # first delivered after the chat ended
            who = (agent(plan.index), sid("WK", plan.index), f"Agent {plan.index}", plan.sid)
            change = lambda s: s.accepted(*who)  # noqa: E731
        elif kind == "added":
            change = lambda s: s.participant_added(agent(plan.index))  # noqa: E731
        elif kind == "removed":
            change = lambda s: s.participant_removed(agent(plan.index))  # noqa: E731
        elif kind in ("close", "requeued-close"):
            task = plan.sid if kind == "close" else event[1]
            reason = event[2] if kind == "close" else CloseReason.COMPLETED
            # TaskRouter closes the task, then sends the event.
            self.twilio.tasks[task].status = "canceled" if reason in UNANSWERED_REASONS else "completed"
            change = lambda s: s.close(task, reason, policy=self.policy, now=now)  # noqa: E731
        else:  # pragma: no cover - a typo in the generator
            raise AssertionError(event)
        self.store.transition(CH, change)
        self.applied.add(event)
        self.check_invariants()

    def plan(self, event: Event) -> TaskPlan:
        index = event[1]
        return self.scenario.tasks[index] if isinstance(index, int) else self.scenario.tasks[0]

    def check_invariants(self) -> None:
        state = self.state
        for task, tracked in state.tasks.items():
            if tracked.status == CLOSED:
                self.ever_closed.add(task)
            else:
                assert task not in self.ever_closed, f"{task} reopened"
        assert self.violations == []
        assert self.ends <= 1, "the chat was ended twice"
        assert not self.ends or state.ended == "ended", "closed without the end committed"
        if state.ended == "ended" and not self.end_committed:
            self.end_committed = True
            self.ended_now()
        assert len(set(state.notices)) == len(state.notices)
        # Every state reached reads back the same from its stored (compact) form, and from the
        # older form that names every field.
        for stored in (state.to_dict(), asdict(state)):
            assert ConversationState.from_dict(json.loads(json.dumps(stored))) == state

    # ---- the drainer ---------------------------------------------------------------------------

    def drain_step(self, data: st.DataObject | None, *, whole: bool = False) -> bool:
        """The drainer takes one step (a new drain when none is under way); all of them with
        `whole`. False when a new drain found nothing to do."""
        if self.drainer is None or self.drainer.done:
            self.drainer = self.scheduler.spawn("drainer", lambda: drain(self.deps, CH))
            started = True
        else:
            started = False
        while True:
            label = self.drainer.pause_label
            answer = None
            if label[0] == "call" and label[1] == "create_task":  # a requeue: does TaskRouter take it?
                succeeds = data.draw(st.booleans(), label="requeue succeeds") if data else True
                answer = None if succeeds else TwilioRejected(400, 20001, "the original workflow is gone")
            self.scheduler.resume(self.drainer, answer)
            assert self.drainer.error is None, repr(self.drainer.error)
            self.check_invariants()
            if self.drainer.done or not whole:
                break
        return not (
            started and self.drainer.done and self.drainer.pause_label is None and not self.state.outbox
        )

    def drain_all(self) -> None:
        for _ in range(1000):
            self.drain_step(None, whole=True)
            if not self.state.outbox:
                return
        raise AssertionError(f"the outbox never drained: {self.state.outbox}")

    def ended_now(self) -> None:
        """The end committed (TaskRouter checked): nothing may be in flight or being set up."""
        state = self.state
        assert state.open_holds() == [], "ended with a transfer being set up"
        still_open = self.existing - self.closed_at_taskrouter
        assert not still_open, f"ended while {still_open} were in flight at TaskRouter"
        created = {self.plan(e).sid for e in self.applied if e[0] == "created"}
        assert created <= self.closed_at_taskrouter, "ended while a created task was still open"


# ---- expectations computed from the scenario alone (not from the model) ---------------------


def expected_notices(scenario: Scenario, ended: bool) -> set[str]:
    keys: set[str] = set()
    for plan in scenario.tasks:
        if not plan.exists:
            continue
        if plan.outcome in ("answered", "open"):
            keys.add(f"joined:{plan.sid}:{agent(plan.index)}")
            if plan.closes:
                keys.add(f"left:{plan.sid}:{agent(plan.index)}")
        if plan.via == "transfer":
            keys.add(f"transfer-started:{plan.hold}")
            if plan.outcome == "unanswered":
                keys.add(f"transfer-failed:{plan.hold}")
    if ended:
        keys.add("chat-ended")
    return keys


def expected_to_end(scenario: Scenario) -> bool:
    return all(plan.closes for plan in scenario.tasks if plan.exists)


def statuses(state: ConversationState) -> dict[str, str]:
    return {task: tracked.status for task, tracked in state.tasks.items()}


def check_final_statuses(scenario: Scenario, state: ConversationState) -> None:
    for plan in scenario.tasks:
        heard_of = plan.created_event or plan.closes or plan.via == "transfer"
        if not plan.exists:
            assert plan.sid not in state.tasks
        elif heard_of:
            assert state.tasks[plan.sid].status == (CLOSED if plan.closes else INFLIGHT)
        elif plan.sid in state.tasks:  # tracked only because TaskRouter reported it in flight
            assert state.tasks[plan.sid].status == INFLIGHT


# ---- orderings ------------------------------------------------------------------------------


def deliveries(data: st.DataObject, scenario: Scenario) -> list[Event]:
    """The scenario's events, each delivered once or (30 %) twice, in a random causal order."""
    pending: list[Event] = []
    for event in scenario.events:
        pending.append(event)
        if data.draw(st.integers(0, 9), label="duplicate") < 3:
            pending.append(event)
    return pending


DRAIN_ONE: Event = ("the drainer works one item",)
DRAIN_ROUND: Event = ("the drainer works all it has leased",)


def next_event(
    data: st.DataObject, sim: Simulation, pending: list[Event], drainer: bool = False
) -> Event | None:
    """The next delivery among those causally possible; with `drainer`, sometimes a drain step."""
    prerequisites = sim.scenario.prerequisites
    ready = [i for i, e in enumerate(pending) if prerequisites.get(e, set()) <= sim.applied]
    if not ready:
        return None
    slots = len(ready) + (max(2, len(ready) // 3) if drainer else 0)
    choice = data.draw(st.integers(0, slots - 1), label="next step")
    if choice < len(ready):
        return pending.pop(ready[choice])
    return DRAIN_ROUND if choice == len(ready) else DRAIN_ONE


def run_in_order(scenario: Scenario, events: list[Event], policy: Unanswered) -> Simulation:
    sim = Simulation(scenario, policy)
    for event in events:
        sim.apply(event)
    sim.drain_all()
    return sim


# ---- the properties -------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_every_interleaving_and_duplication_reaches_the_same_state(
    scenario: Scenario, data: st.DataObject
) -> None:
    """Events first, drain afterwards: the outcome depends on the event set only."""
    canonical = run_in_order(scenario, scenario.events, Unanswered.END)

    sim = Simulation(scenario, Unanswered.END)
    pending = deliveries(data, scenario)
    while (event := next_event(data, sim, pending)) is not None:
        sim.apply(event)
    assert pending == []
    sim.drain_all()

    ends = expected_to_end(scenario)
    assert sim.ends == canonical.ends == int(ends)
    assert sim.state.ended == canonical.state.ended == ("ended" if ends else None)
    assert set(sim.posted) == set(canonical.posted) == expected_notices(scenario, ends)
    assert statuses(sim.state) == statuses(canonical.state)
    check_final_statuses(scenario, sim.state)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data(), policy=st.sampled_from(list(Unanswered)))
def test_a_drainer_racing_the_events_ends_the_chat_once_and_never_early(
    scenario: Scenario, data: st.DataObject, policy: Unanswered
) -> None:
    """The drainer works between any two events; TaskRouter's truth decides phase two."""
    sim = Simulation(scenario, policy)
    pending = deliveries(data, scenario)

    def requeue_succeeds() -> bool:
        return data.draw(st.booleans(), label="requeue succeeds")

    try:
        while pending:
            event = next_event(data, sim, pending, drainer=True)
            assert event is not None, "the causal order left events that can never be delivered"
            if event not in (DRAIN_ONE, DRAIN_ROUND):
                sim.apply(event)
                continue
            sim.drain_step(data, whole=event is DRAIN_ROUND)
            for task in sorted(sim.existing - {p.sid for p in scenario.tasks}):
                # A requeued task is a new task at TaskRouter: its completion arrives later.
                closing: Event = ("requeued-close", task)
                if closing not in sim.applied and closing not in pending:
                    pending.append(closing)
        # Quiesce: whatever the drainer still has to do, and the completions of the tasks it requeued.
        progressed = True
        while progressed:
            progressed = False
            if sim.drainer is not None and not sim.drainer.done:
                sim.drain_step(data, whole=True)
            if sim.state.outbox:
                sim.drain_step(data, whole=True)
                progressed = True
            for task in sorted(sim.existing - {p.sid for p in scenario.tasks}):
                if ("requeued-close", task) not in sim.applied:
                    sim.apply(("requeued-close", task))
                    progressed = True
    finally:
        sim.scheduler.abort_all()

    ends = expected_to_end(scenario)
    assert sim.ends == int(ends), f"ended {sim.ends} times; expected to end: {ends}"
    assert (sim.state.ended == "ended") is ends
    assert sim.state.outbox == []
    assert sim.state.lease is None
    assert ("chat-ended" in sim.posted) is ends
    check_final_statuses(scenario, sim.state)
    if policy is Unanswered.END:
        assert sim.requeues == 0
        expected = expected_notices(scenario, ends)
        assert set(sim.posted) <= expected
        # Only an acceptance first delivered after the end may come too late to be announced.
        for key in expected - set(sim.posted):
            kind, task, who = key.split(":")
            assert kind in ("joined", "left"), key
            assert int(who.rsplit("-", 1)[1]) in sim.late_accepts, key


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_a_notice_key_is_queued_at_most_once_whatever_is_redelivered(
    scenario: Scenario, data: st.DataObject
) -> None:
    sim = Simulation(scenario, Unanswered.REQUEUE)
    pending = deliveries(data, scenario) + list(scenario.events)  # everything at least twice
    queued: list[str] = []
    while (event := next_event(data, sim, pending)) is not None:
        before = {item.id for item in sim.state.outbox}
        sim.apply(event)
        queued += [
            item.id.split(":", 1)[1]
            for item in sim.state.outbox
            if item.kind == OutboxKind.NOTICE and item.id not in before
        ]
    assert len(queued) == len(set(queued))
    assert sorted(queued) == sorted(sim.state.notices)
