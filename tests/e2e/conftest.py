"""One running service against the sandbox, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker.localstack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(worker_count=1, worker_concurrency=2) as running:
        yield running
