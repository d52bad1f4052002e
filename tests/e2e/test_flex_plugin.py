"""The agent's side, in headless Chromium: the **built** Flex plugin (flex-plugin/build) loaded into a
stand-in Flex agent desktop (flex-plugin/test-harness, served by tests/e2e/flex_harness.py), talking
over HTTP — cross-origin, as from flex.twilio.com — to the whole service running against the sandbox.

- Transfer from Flex's directory → the plugin's POST /transfers → the sandbox has the transfer task.
- The service's notices render as centred notices, in the agent's language, not as chat bubbles.
- Who is here (GET /chats/<CH>): the Leave label counts the colleague; the People tab lists them.
- Leave → the chat goes on while another agent is in it, and ends when the last one leaves (rule 2).

A checkout with no bundle yet has it built first (`npm ci`, `npm run build`), so the README's test
command needs nothing before it; with CI=true a missing browser or npm fails the run
(tests/e2e/browser.py), never skips it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.e2e.browser import BROWSER_MISSING, required, save_screenshot
from tests.e2e.conftest import finish_leftover_tasks
from tests.e2e.flex_harness import FlexHarness, build_plugin, plugin_missing
from worker.domain.notices import display_name, notice_text

if TYPE_CHECKING:
    from playwright.sync_api import Page

PLUGIN_MISSING = required(plugin_missing())
NOTICE_PARAMS = ("workerName", "targetName", "transferType")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or ""),
    pytest.mark.skipif(PLUGIN_MISSING is not None, reason=PLUGIN_MISSING or ""),
]


@pytest.fixture(scope="module")
def harness() -> Iterator[FlexHarness]:
    build_plugin()
    with FlexHarness() as serving:
        yield serving


@pytest.fixture(scope="module")
def stack(harness: FlexHarness) -> Iterator[LocalStack]:
    """The service, allowing the desktop's origin (CORS_ORIGINS), as a deployment allows Flex's."""
    with LocalStack(
        worker_count=1, worker_concurrency=2, settings={"CORS_ORIGINS": harness.origin}
    ) as running:
        harness.sandbox = running.sandbox
        yield running


@pytest.fixture(autouse=True)
def agents_free(stack: LocalStack) -> Iterator[None]:
    yield
    finish_leftover_tasks(stack)


def name_of(stack: LocalStack, worker: str) -> str:
    return display_name(json.loads(stack.sandbox.worker(stack.setup.workers[worker])["attributes"]), "Agent")


def accept_offer(stack: LocalStack, task_sid: str, worker: str | None = None) -> tuple[str, str]:
    """The offer of `task_sid` (to `worker` if given) accepted; returns (worker name, reservation sid)."""
    sb = stack.sandbox
    offer = sb.pending_reservation(
        task_sid=task_sid, worker_sid=stack.setup.workers[worker] if worker else None, timeout=20
    )
    sb.accept(offer["sid"])
    name = next(n for n, s in stack.setup.workers.items() if s == offer["worker_sid"])
    return name, offer["sid"]


def kinds(stack: LocalStack, conversation_sid: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation_sid)]


def desktop(
    harness: FlexHarness,
    stack: LocalStack,
    agent: str,
    task_sid: str,
    reservation_sid: str,
    *,
    locale: str = "en-US",
) -> str:
    """The agent desktop of `agent` on `task_sid`, with the plugin configured as a Flex account would."""
    setup, sb = stack.setup, stack.sandbox
    task = sb.task(task_sid)
    others = [name for name in setup.workers if name != agent]
    return harness.desktop(
        {
            "token": setup.tokens[agent],
            "identity": setup.identities[agent],
            "customer": "maria",
            "locale": locale,
            "customData": {"chat_transfer": {"service_url": stack.base_url, "poll_interval_ms": 500}},
            "worker": {
                "sid": setup.workers[agent],
                "attributes": json.loads(sb.worker(setup.workers[agent])["attributes"]),
            },
            "task": {
                "sid": reservation_sid,
                "taskSid": task_sid,
                "taskStatus": task["assignment_status"],
                "taskChannelUniqueName": task["task_channel_unique_name"],
                "workerSid": setup.workers[agent],
                "attributes": json.loads(task["attributes"]),
            },
            "directory": {
                "workers": [{"sid": setup.workers[n], "name": name_of(stack, n)} for n in others],
                "queues": [{"sid": qsid, "name": qname} for qname, qsid in setup.queues.items()],
            },
        }
    )


def open_desktop(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-harness=ready]", timeout=15_000)
    page.wait_for_selector(".ChatTransfer-LeaveChatButton", timeout=15_000)
    assert page.evaluate("harness.plugins") == ["ChatTransferPlugin"]


def notices_on(page: Page) -> list[tuple[str, str]]:
    return [
        tuple(notice)
        for notice in page.eval_on_selector_all(
            ".ChatTransfer-Notice", "els => els.map(e => [e.dataset.notificationType, e.textContent])"
        )
    ]


def service_notices(stack: LocalStack, conversation_sid: str, locale: str) -> list[tuple[str, str]]:
    """The notices the service posted, in the words the agent should read."""
    return [
        (
            n["notificationType"],
            notice_text(n["notificationType"], {k: n[k] for k in NOTICE_PARAMS if k in n}, locale),
        )
        for n in stack.notices(conversation_sid)
    ]


def start_chat_with(stack: LocalStack) -> tuple[Any, str, str]:
    """A Flex Conversations chat accepted by an agent; returns (chat, agent, reservation sid)."""
    chat = stack.sandbox.start_chat("maria", first_message="Hi, my order never arrived", interactions=True)
    agent, reservation = accept_offer(stack, chat.task_sid)
    wait_for(lambda: "joined" in kinds(stack, chat.conversation_sid), 30, what="joined posted")
    return chat, agent, reservation


def test_transfer_from_the_directory_and_notices(
    page: Page, harness: FlexHarness, stack: LocalStack, tmp_path: Path
) -> None:
    sb = stack.sandbox
    chat, agent_a, reservation = start_chat_with(stack)
    conversation = chat.conversation_sid
    agent_b = next(n for n in ("alice", "bob") if n != agent_a)
    open_desktop(page, desktop(harness, stack, agent_a, chat.task_sid, reservation))

    # Flex's End chat is gone from a chat the agent is in; the plugin's Leave chat stands there.
    assert page.locator(".native-end").count() == 0

    # Transfer → Flex's directory → warm transfer to agent B.
    page.click(".ChatTransfer-TransferButton")
    page.click(f'.directory__entry[data-target-sid="{stack.setup.workers[agent_b]}"] .directory__warm')
    page.wait_for_selector('[data-notification-id="ChatTransferCreated"]', timeout=30_000)
    transfer_tasks = sb.tasks(
        where=lambda attributes: attributes.get("transferredFromTaskSid") == chat.task_sid
    )
    assert len(transfer_tasks) == 1, transfer_tasks
    attributes = json.loads(transfer_tasks[0]["attributes"])
    assert (attributes["transferTargetSid"], attributes["transferType"]) == (
        stack.setup.workers[agent_b],
        "WARM",
    )
    # The plugin aborted Flex's own TransferTask: Flex moved no reservation.
    assert {"name": "TransferTask", "aborted": True, "taskSid": chat.task_sid} in page.evaluate(
        "harness.actionLog"
    )
    assert [run["name"] for run in page.evaluate("harness.nativeRuns")] == []

    accept_offer(stack, transfer_tasks[0]["sid"], agent_b)
    wait_for(
        lambda: kinds(stack, conversation) == ["joined", "transfer-started", "joined"], 30, what="B joined"
    )

    # The service's notices, as notices in the agent's message list, in the agent's words.
    wait_for(
        lambda: notices_on(page) == service_notices(stack, conversation, "en-US"),
        30,
        what=f"notices on the page: {notices_on(page)}",
    )
    assert [text for _, text in notices_on(page)] == [
        f"{name_of(stack, agent_a)} joined the chat",
        f"Warm transfer to {name_of(stack, agent_b)} started",
        f"{name_of(stack, agent_b)} joined the chat",
    ]
    assert page.locator(".ChatTransfer-Notice .bubble").count() == 0
    assert page.locator(".ChatTransfer-Notice[role=status]").count() == 3
    assert page.eval_on_selector_all(".bubble__body", "els => els.map(e => e.textContent)") == [
        "Hi, my order never arrived"
    ]
    offsets = page.evaluate(
        """() => {
          const list = document.querySelector('.messages').getBoundingClientRect();
          const middle = list.left + list.width / 2;
          return [...document.querySelectorAll('.ChatTransfer-Notice__text')].map((el) => {
            const r = el.getBoundingClientRect();
            return r.left + r.width / 2 - middle;
          });
        }"""
    )
    assert len(offsets) == 3 and all(abs(offset) <= 1 for offset in offsets), offsets
    # Who is here (GET /chats/<CH>): the Leave label counts the colleague, the People tab lists both.
    leave = page.locator(".ChatTransfer-LeaveChatButton")
    wait_for(lambda: leave.text_content() == "Leave chat — 1 other agent is here", 30, what="A's label")
    save_screenshot(page, "flex-plugin.png", tmp_path)
    page.click('[data-tab="ChatTransferPeople"]')
    page.wait_for_selector(".ChatTransfer-People__agents", timeout=15_000)
    assert sorted(
        page.eval_on_selector_all(".ChatTransfer-People__agents li", "els => els.map(e => e.textContent)")
    ) == sorted([f"{name_of(stack, agent_a)} (you)", name_of(stack, agent_b)])

    # Another agent's desktop in Spanish (Mexico): the same notices in their words.
    spanish = page.context.new_page()
    open_desktop(spanish, desktop(harness, stack, agent_a, chat.task_sid, reservation, locale="es-MX"))
    wait_for(
        lambda: notices_on(spanish) == service_notices(stack, conversation, "es-MX"),
        30,
        what=f"notices in es-MX: {notices_on(spanish)}",
    )
    assert notices_on(spanish)[1][1] == f"Transferencia asistida a {name_of(stack, agent_b)} iniciada"


def test_leave_keeps_the_chat_for_others_and_the_last_agent_ends_it(
    page: Page, harness: FlexHarness, stack: LocalStack
) -> None:
    base, sb = stack.base_url, stack.sandbox
    chat, agent_a, reservation_a = start_chat_with(stack)
    conversation = chat.conversation_sid
    agent_b = next(n for n in ("alice", "bob") if n != agent_a)
    answer = requests.post(
        f"{base}/transfers",
        json={
            "taskSid": chat.task_sid,
            "targetSid": stack.setup.workers[agent_b],
            "mode": "WARM",
            "Token": stack.setup.tokens[agent_a],
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    transfer = wait_for(
        lambda: (
            (s := requests.get(f"{base}/transfers/{answer.json()['transferId']}", timeout=10).json())[
                "status"
            ]
            != "pending"
            and s
        ),
        30,
        what="transfer settled",
    )
    _, reservation_b = accept_offer(stack, transfer["transferTaskSid"], agent_b)
    wait_for(lambda: kinds(stack, conversation).count("joined") == 2, 30, what="B joined")

    # A leaves while B is in the chat: the chat goes on.
    open_desktop(page, desktop(harness, stack, agent_a, chat.task_sid, reservation_a))
    leave = page.locator(".ChatTransfer-LeaveChatButton")
    wait_for(lambda: leave.text_content() == "Leave chat — 1 other agent is here", 30, what="A's label")
    leave.click()
    wait_for(lambda: sb.task_status(chat.task_sid) in ("wrapping", "completed"), 30, what="A's task wrapped")
    wait_for(lambda: "left" in kinds(stack, conversation), 30, what="left posted")
    page.wait_for_selector(
        ".task-canvas[data-task-status=wrapping], .task-canvas[data-task-status=completed]"
    )
    sb.wait_idle()
    assert sb.conversation(conversation)["state"] == "active"

    # B is the last agent: End chat, and the service ends the chat once.
    b_page = page.context.new_page()
    open_desktop(b_page, desktop(harness, stack, agent_b, transfer["transferTaskSid"], reservation_b))
    b_leave = b_page.locator(".ChatTransfer-LeaveChatButton")
    wait_for(lambda: b_leave.text_content() == "End chat", 30, what="B's label")
    b_leave.click()
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", 30, what="the chat ended")
    assert kinds(stack, conversation).count("chat-ended") == 1
