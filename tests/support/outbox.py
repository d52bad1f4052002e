"""Driving a chat's outbox through the model's drainer API, as the drainer records successes
(`worker.handlers.outbox`), for tests of the model and the store that need items done."""

from __future__ import annotations

from collections.abc import Iterable

from worker.domain.model import ConversationState, EndStep, OutboxItem, OutboxKind, RetryLimits, end_step

TTL = 60.0


def fence_of(state: ConversationState, now: float = 0.0, owner: str = "drainer") -> int:
    """The live lease's fence, or a new lease's."""
    if state.lease is not None:
        return state.lease.fence
    fence = state.acquire_lease(owner, now, TTL)
    assert fence is not None, "nothing due in the outbox"
    return fence


def done(state: ConversationState, item_id: str, now: float = 0.0) -> None:
    """The item's effect happened (an end item: every step after its check), under the live lease
    or a lease taken for it; released when taken for it, or once nothing is left (as the
    drainer's last `next_item` does)."""
    borrowed = state.lease is None
    fence = fence_of(state, now)
    while (item := next((i for i in state.outbox if i.id == item_id), None)) is not None:
        assert item.kind != OutboxKind.END or end_step(item) is not EndStep.CHECK, "check it first"
        state.item_done(fence, item_id)
    if borrowed or not state.outbox:
        state.release_lease(fence)


def work_off(
    state: ConversationState, *, now: float = 0.0, untracked: Iterable[str] = (), owner: str = "drainer"
) -> list[OutboxItem]:
    """Every due item taken in order and done (the end checked with TaskRouter reporting
    `untracked` in flight); returns the items as they were taken."""
    fence = state.acquire_lease(owner, now, TTL)
    if fence is None:
        return []
    taken = []
    limits = RetryLimits()
    while (item := state.next_item(fence, now, TTL, limits)) is not None:
        taken.append(item)
        if item.kind == OutboxKind.END and end_step(item) is EndStep.CHECK:
            state.end_checked(fence, item.id, list(untracked))
        else:
            state.item_done(fence, item.id)
    return taken
