"""Beat's reconciliation sends again the retries parked for being longer than the broker can hold."""

from __future__ import annotations

from typing import Any

import fakeredis

from tests.support.settings import make_settings
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.deferred import DeferredWork
from worker.adapters.transfer_store import TransferStore
from worker.handlers.deps import Deps
from worker.handlers.reconcile import TOTALS_KEY, reconcile


class NothingOpen:
    def open_task_sids(self) -> tuple[set[str], int]:
        return set(), 1


class Sent:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, int]] = []

    def enqueue(
        self, task_name: str, payload: Any, *, countdown: float | None = None, retries: int = 0
    ) -> None:
        self.sent.append((task_name, payload, retries))


def test_parked_retries_are_sent_again_once_due_with_their_retry_count() -> None:
    client = fakeredis.FakeRedis()
    now = [1000.0]
    queue = Sent()
    deps = Deps(
        settings=make_settings(),
        store=ConversationStore(client, 3600),
        gateway=NothingOpen(),  # type: ignore[arg-type]
        redis=client,
        transfers=TransferStore(client),
        queue=queue,
        clock=lambda: now[0],
    )
    parked = DeferredWork(client)
    parked.park("chat_transfer.transfers.run", {"transferId": "T1"}, retries=5, due=1600.0, now=1000.0)
    reconcile(deps)
    assert queue.sent == []
    now[0] = 1600.0
    report = reconcile(deps)
    assert queue.sent == [("chat_transfer.transfers.run", {"transferId": "T1"}, 5)]
    assert report.parked_redriven == 1 and parked.all() == []
    reconcile(deps)
    assert len(queue.sent) == 1
    assert int(client.hget(TOTALS_KEY, "parked_redriven")) == 1
