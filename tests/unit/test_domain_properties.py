"""Property-based tests of the last-task rule: any interleaving, any duplication, one end.

Hypothesis builds a chat with 1-4 tasks (the original, then tasks created directly or by a
transfer), the agents who take them, and the set of events Twilio and our own transfer handler
produce for it. The events are then applied in an arbitrary order that respects only real
causality (a transfer's hold is opened before its task exists and before the transferring task
can close), with random redeliveries, and - in the second property - a drainer working the
outbox between any two events, one item at a time from the snapshot it leased, whose TaskRouter
says "in flight" for every existing task whose close event has not been applied yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.settings import sid
from worker.domain.model import (
    CLOSED,
    INFLIGHT,
    CloseReason,
    ConversationState,
    OutboxItem,
    OutboxKind,
    TransferInfo,
    Unanswered,
)

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


@dataclass
class Simulation:
    """One chat, the events applied so far, and a drainer that behaves like worker/handlers/outbox."""

    scenario: Scenario
    policy: Unanswered
    state: ConversationState = field(default_factory=lambda: ConversationState(sid=CH))
    applied: set[Event] = field(default_factory=set)
    closed_at_taskrouter: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)
    posted: list[str] = field(default_factory=list)
    ends: int = 0
    snapshot: list[OutboxItem] = field(default_factory=list)
    ever_closed: set[str] = field(default_factory=set)
    requeues: int = 0
    late_accepts: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.existing = {p.sid for p in self.scenario.tasks if p.via == "direct"}

    # ---- events --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        state, kind, plan = self.state, event[0], self.plan(event)
        now = float(len(self.applied))
        if kind == "open_hold":
            state.open_hold(plan.hold, "transfer", now)
        elif kind == "taskrouter_create":
            self.existing.add(plan.sid)  # not a transition: TaskRouter has the task from now on
        elif kind == "hold_created":
            state.hold_created(
                plan.hold, plan.sid, transfer=plan.transfer_info(), policy=self.policy, now=now
            )
        elif kind == "hold_failed":
            state.hold_failed(plan.hold, "target refused")
        elif kind == "created":
            state.track(plan.sid)
        elif kind == "accepted":
            if self.ends and event not in self.applied:
                self.late_accepts.add(plan.index)  # first delivered after the chat ended
            state.accepted(agent(plan.index), sid("WK", plan.index), f"Agent {plan.index}", plan.sid)
        elif kind == "added":
            state.participant_added(agent(plan.index))
        elif kind == "removed":
            state.participant_removed(agent(plan.index))
        elif kind == "close":
            state.close(plan.sid, event[2], policy=self.policy, now=now)
            self.closed_at_taskrouter.add(plan.sid)
        elif kind == "requeued-close":
            state.close(event[1], CloseReason.COMPLETED, policy=self.policy, now=now)
            self.closed_at_taskrouter.add(event[1])
        else:  # pragma: no cover - a typo in the generator
            raise AssertionError(event)
        self.applied.add(event)
        self.check_invariants()

    def plan(self, event: Event) -> TaskPlan:
        index = event[1]
        return self.scenario.tasks[index] if isinstance(index, int) else self.scenario.tasks[0]

    def check_invariants(self) -> None:
        for task, tracked in self.state.tasks.items():
            if tracked.status == CLOSED:
                self.ever_closed.add(task)
            else:
                assert task not in self.ever_closed, f"{task} reopened"
        assert (self.state.ended == "ended") == (self.ends == 1)
        assert len(set(self.state.notices)) == len(self.state.notices)
        # Every state reached reads back the same from its stored (compact) form, and from the
        # older form that names every field.
        for stored in (self.state.to_dict(), asdict(self.state)):
            assert ConversationState.from_dict(json.loads(json.dumps(stored))) == self.state

    # ---- the drainer ---------------------------------------------------------------------------

    def taskrouter_inflight(self) -> list[str]:
        return sorted(self.existing - self.closed_at_taskrouter)

    def drain_one(self, requeue_succeeds: Callable[[], bool] = lambda: True) -> bool:
        """Work one outbox item; False when there was nothing to do."""
        if not self.snapshot:
            self.snapshot = self.state.acquire_lease("drainer", now=0.0, ttl=1e9) or []
            if not self.snapshot:
                return False
        item = self.snapshot.pop(0)
        if item.kind == OutboxKind.NOTICE:
            self.post(item.id.split(":", 1)[1])
        elif item.kind == OutboxKind.END:
            still_open = self.taskrouter_inflight()
            if any(queued.id == item.id for queued in self.state.outbox) and self.state.confirm_end(
                still_open
            ):
                self.post("chat-ended")  # posted as part of the end, before the close
                self.ended_now()
        elif item.kind == OutboxKind.REQUEUE:
            hold = item.data["hold"]
            if requeue_succeeds():
                self.requeues += 1
                new_task = sid("WT", 0x900 + self.requeues)
                self.existing.add(new_task)
                self.state.hold_created(hold, new_task)
            else:
                self.state.hold_failed(hold, "the original workflow is gone")
        self.state.finish("drainer", item.id)
        self.check_invariants()
        return True

    def drain_all(self) -> None:
        while self.drain_one():
            pass

    def post(self, key: str) -> None:
        assert key not in self.posted, f"notice {key} posted twice"
        assert self.ends == 0, f"notice {key} posted after the chat ended"
        self.posted.append(key)

    def ended_now(self) -> None:
        self.ends += 1
        assert self.ends == 1, "the chat was ended twice"
        assert self.state.open_holds() == [], "ended with a transfer being set up"
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

    while pending:
        event = next_event(data, sim, pending, drainer=True)
        assert event is not None, "the causal order left events that can never be delivered"
        if event not in (DRAIN_ONE, DRAIN_ROUND):
            sim.apply(event)
            continue
        sim.drain_one(requeue_succeeds)
        while event is DRAIN_ROUND and sim.snapshot:
            sim.drain_one(requeue_succeeds)
        for task in sorted(sim.existing - {p.sid for p in scenario.tasks}):
            # A requeued task is a new task at TaskRouter: its completion arrives later.
            closing: Event = ("requeued-close", task)
            if closing not in sim.applied and closing not in pending:
                pending.append(closing)
    # Quiesce: whatever the drainer still holds, and the completions of the tasks it requeued.
    progressed = True
    while progressed:
        progressed = sim.drain_one(requeue_succeeds)
        for task in sorted(sim.existing - {p.sid for p in scenario.tasks}):
            if ("requeued-close", task) not in sim.applied:
                sim.apply(("requeued-close", task))
                progressed = True

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
