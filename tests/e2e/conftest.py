"""One running service against the sandbox, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.localstack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(worker_count=1, worker_concurrency=2) as running:
        yield running


def finish_leftover_tasks(stack: LocalStack) -> None:
    """Free every agent, whatever the test before left behind: cancel what waits, complete the rest."""
    sb = stack.sandbox
    for status in ("pending", "reserved"):
        for task in sb.tasks(status=status):
            sb.cancel_task(task["sid"], "test cleanup")
    for status in ("assigned", "wrapping"):
        for task in sb.tasks(status=status):
            sb.complete(task["sid"])
    sb.wait_idle()
