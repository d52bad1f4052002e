"""The fault-injection suite's shared fixture: every scenario hands its figures to `figures`;
they are printed at once and, when a real-process scenario ran, written to docs/reliability.md."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack
from tests.faults.chats import AGENTS
from tests.faults.figures import Figures, write_doc

# The order of the rows in docs/reliability.md.
ORDER = {
    "webhooks-dropped": 1,
    "webhooks-duplicated-reordered": 2,
    "twilio-429-500": 3,
    "redis-restart": 4,
    "worker-sigkill": 5,
    "failover": 6,
    "failover-two-replicas": 7,
    "failover-tls": 8,
    "failover-no-wait": 9,
    "fuzz-webhooks": 10,
    "fuzz-transfers": 11,
    "fuzz-openapi": 12,
    "double-click": 13,
    "event-streams-503": 14,
    "slow-twilio": 15,
    "end-refused": 16,
    "poison-item": 17,
    "retry-past-visibility": 18,
}


class FigureBook:
    def __init__(self) -> None:
        self.runs: list[Figures] = []

    def record(self, figures: Figures) -> Figures:
        figures.finish()
        print(figures.line())
        self.runs.append(figures)
        return figures


@pytest.fixture(scope="session")
def figure_book() -> Iterator[FigureBook]:
    book = FigureBook()
    yield book
    if any(run.real_processes for run in book.runs):
        write_doc(book.runs, ORDER)


@pytest.fixture(scope="package")
def chat_stack() -> Iterator[LocalStack]:
    """The service for the chat scenarios: two workers, beat reconciling every two seconds."""
    settings = {"RECONCILE_INTERVAL_SECONDS": "2"}
    with LocalStack(
        worker_count=2, worker_concurrency=2, beat=True, settings=settings, workers_spec=AGENTS
    ) as stack:
        yield stack


def pytest_configure(config: pytest.Config) -> None:
    """`-m faults` fuzzes a couple of thousand cases per test; the default run a few hundred."""
    expression = config.option.markexpr or ""
    if "faults" in expression and "not faults" not in expression:
        os.environ.setdefault("FUZZ_CASES", "2000")
