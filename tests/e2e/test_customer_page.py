"""The customer's side, in headless Chromium: the reference page renders the service's notices
(message attributes `notification: true`, `notificationType`) as notices, never as chat lines.

The browser and its `page` fixture: tests/e2e/browser.py and conftest.py.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ops.demo_web import CustomerPageServer, DemoChat, agent_names
from sandbox import Sandbox
from tests.e2e.browser import BROWSER_MISSING, save_screenshot
from tests.support.settings import make_settings
from worker.adapters.twilio_gateway import TwilioGateway
from worker.domain.notices import notice_attributes, notice_text

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or "")]


def open_chat(page: Page, url: str, conversation_sid: str) -> None:
    page.goto(f"{url}?chat={conversation_sid}")
    page.wait_for_selector(f'body[data-loaded-chat="{conversation_sid}"]', timeout=15_000)


def notices_on(page: Page) -> list[tuple[str, str]]:
    return [
        tuple(notice)
        for notice in page.eval_on_selector_all(
            "#messages > li.notice",
            "items => items.map(i => [i.dataset.notificationType,"
            " i.querySelector('.notice__text').textContent])",
        )
    ]


def lines_on(page: Page) -> list[tuple[str, str, str]]:
    return [
        tuple(line)
        for line in page.eval_on_selector_all(
            "#messages > li.line",
            "items => items.map(i => [i.className, i.querySelector('.line__author').textContent,"
            " i.querySelector('.bubble').textContent])",
        )
    ]


def test_notices_render_as_notices_and_people_as_chat_lines(page: Page) -> None:
    with Sandbox(seed=5) as sb:
        flex = sb.seed_flex(
            workers=[
                {"name": "alice", "full_name": "Alice Adams"},
                {"name": "bob", "public_identity": "Bob B."},
            ]
        )
        chat = sb.start_chat("maria", first_message="Hi, my order never arrived")
        conversation = chat.conversation_sid
        settings = make_settings(
            twilio_account_sid=sb.account_sid,
            twilio_auth_token=sb.auth_token,
            twilio_api_base_url=sb.base_url,
            twilio_flex_workspace_sid=flex.workspace_sid,
        )
        gateway = TwilioGateway(settings)

        def notice(kind: str, **params: str) -> str:
            """Posted exactly as the service's outbox posts it."""
            gateway.post_message(
                conversation,
                notice_text(kind, params, None),
                notice_attributes(f"{kind}:{params}", kind, params),
            )
            return notice_text(kind, params, None)

        expected = [
            ("joined", notice("joined", workerName="Alice")),
        ]
        sb.agent_message(conversation, flex.workers["alice"], "Hello Maria, let me look.")
        expected.append(
            ("transfer-started", notice("transfer-started", targetName="Bob B.", transferType="WARM"))
        )
        expected.append(("joined", notice("joined", workerName="Bob B.")))
        sb.agent_message(conversation, flex.workers["bob"], "I can refund that.")
        # Attributes that merely look like a notice's do not make one: the flag does.
        sb.customer_message(conversation, "<b>thanks!</b>", attributes={"notificationType": "joined"})
        expected.append(("left", notice("left", workerName="Bob B.")))
        expected.append(("transfer-failed", notice("transfer-failed", targetName="Sales")))
        expected.append(("left", notice("left", workerName="Alice")))
        expected.append(("chat-ended", notice("chat-ended")))

        workers = [sb.worker(sid)["attributes"] for sid in flex.workers.values()]
        names = agent_names(json.loads(w) for w in workers)
        with CustomerPageServer(sb, [DemoChat(conversation, "Maria's order")], names) as server:
            open_chat(page, server.url, conversation)

            assert notices_on(page) == expected
            assert [text for _, text in expected][-1] == "The chat has ended"
            assert lines_on(page) == [
                ("line line--customer", "You", "Hi, my order never arrived"),
                ("line line--agent", "Alice", "Hello Maria, let me look."),
                ("line line--agent", "Bob B.", "I can refund that."),
                ("line line--customer", "You", "<b>thanks!</b>"),  # text, never HTML
            ]
            assert page.locator("#messages b").count() == 0
            assert page.locator("#messages li.notice .bubble").count() == 0
            assert page.locator("#messages li.notice[role=status]").count() == len(expected)

            # Laid out as notices: centered in the chat, while chat lines sit at its sides.
            geometry = page.evaluate(
                """() => {
                  const list = document.querySelector('#messages').getBoundingClientRect();
                  const middle = list.left + list.width / 2;
                  const centre = (el) => {
                    const r = el.getBoundingClientRect();
                    return r.left + r.width / 2 - middle;
                  };
                  const all = (css) => [...document.querySelectorAll(`#messages > li${css}`)].map(centre);
                  return {
                    notices: all('.notice:not(.notice--chat-ended)'),
                    customer: all('.line--customer'),
                    agent: all('.line--agent'),
                  };
                }"""
            )
            assert all(abs(offset) <= 1 for offset in geometry["notices"]), geometry
            assert all(offset > 20 for offset in geometry["customer"]), geometry
            assert all(offset < -20 for offset in geometry["agent"]), geometry

            # The page follows the chat as it goes on, until it is closed.
            sb.customer_message(conversation, "One more thing")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#messages .bubble')]"
                ".some(b => b.textContent === 'One more thing')",
                timeout=10_000,
            )
            sb.close_conversation(conversation)
            page.wait_for_selector('#state[data-state="closed"]', timeout=10_000)
            assert page.text_content("#status") == "This chat has ended."
        sb.assert_faithful()


def test_unknown_chats_are_not_served(page: Page) -> None:
    with Sandbox(seed=6) as sb:
        sb.seed_flex()
        shown = sb.start_chat("maria")
        hidden = sb.start_chat("carla")
        with CustomerPageServer(sb, [DemoChat(shown.conversation_sid, "shown")]) as server:
            assert page.goto(f"{server.url}api/chats/{hidden.conversation_sid}").status == 404
            assert page.goto(f"{server.url}api/chats/{shown.conversation_sid}").status == 200


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_demo_web_serves_the_demos_chats_to_the_page(page: Page, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "CELERY_"))}
    env["PYTHONUNBUFFERED"] = "1"
    demo = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "demo", "--web", "--web-port", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, output), daemon=True).start()
    seen: list[str] = []
    try:
        url = None
        while url is None:
            line = output.get(timeout=180)
            assert line is not None, "the demo stopped before serving the page:\n" + "".join(seen[-60:])
            seen.append(line)
            if line.startswith("customer page: "):
                url = line.split()[2]
        assert "BROKEN" not in "".join(seen), "".join(seen)

        page.goto(url)
        page.wait_for_selector("body[data-loaded-chat]", timeout=15_000)
        assert page.locator("#chats button").count() == 4  # the demo's four stories
        # The first story: a warm transfer, B leaves first, then A; the chat ends once.
        assert [kind for kind, _ in notices_on(page)] == [
            "joined",
            "transfer-started",
            "joined",
            "left",
            "left",
            "chat-ended",
        ]
        lines = lines_on(page)
        assert lines[0] == ("line line--customer", "You", "Hi, my order never arrived")
        assert {author for kind, author, _ in lines if kind == "line line--agent"} == {"Alice", "Bob"}
        assert page.text_content("#state") == "closed"
        save_screenshot(page, "customer-chat.png", tmp_path, full_page=True)

        # The queue story, picked from the list, loads in place.
        page.locator("#chats button").nth(1).click()
        page.wait_for_function(
            "() => document.querySelector('#title').textContent.startsWith('Cold transfer to a queue')",
            timeout=10_000,
        )
        page.wait_for_selector("#messages > li.notice--chat-ended", timeout=10_000)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)  # the demo stops its whole stack on SIGTERM
        try:
            status = demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert status == 0, "".join(seen[-60:])
