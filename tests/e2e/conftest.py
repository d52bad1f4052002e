"""One running service against the sandbox, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ops.localstack import LocalStack
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium (tests/e2e/browser.py), one per module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; the test fails if the page threw."""
    context = browser.new_context(viewport={"width": 1040, "height": 640})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"the page threw: {errors}"
