"""A decided end completes, and one broken item blocks nothing (issue 12, defects 2-3; CONTRACT
§6 rule 9).

Real processes: redis-server, the receiver under gunicorn, two celery workers, the sandbox over
HTTP — and no beat: what retries the close and gives the poison item up is the outbox itself
(`DRAIN_OUTBOX` jobs), and no reconciliation listing consumes a refusal meant for the end's check.
One chat at a time, so each refusal lands on the call it is meant for:

- **4xx on the end**: Twilio refuses the end's TaskRouter check (403, a key rotation), or its
  `chat-ended` notice (403), or its close (403, twice). Before the fix the first two left the chat
  `ending` or ended-but-open for good, and a refused close was never tried again.
- **A poison item**: another app stored the conversation's `associatedTasks` as a list, so the
  mirror raises TypeError on every try. Before the fix it blocked everything behind it, the
  notices and the end included; now it becomes a dead letter after `OUTBOX_MAX_ATTEMPTS`, the rest
  goes on, and the close (which writes the same attributes) goes on without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from ops.localstack import LocalStack, wait_for
from tests.faults.chats import ChatRun, Plan, injected, judge, two_worker_stack
from tests.faults.figures import Figures
from tests.faults.test_webhook_faults import fill
from worker.adapters.dead_letters import DEAD_LETTERS_KEY
from worker.adapters.twilio_gateway import TwilioGateway
from worker.settings import Settings

pytestmark = pytest.mark.faults

CLOSE_WITHIN = 60.0  # seconds from the last task's end to the chat closed, with every retry
MESSAGES = r"^/conversations/v1/Conversations/[^/]+/Messages$"
CONVERSATION = r"^/conversations/v1/Conversations/[^/]+$"
TASKS = r"^/taskrouter/v1/Workspaces/[^/]+/Tasks$"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with two_worker_stack({}, beat=False) as running:
        yield running


class OneChat:
    """A customer's chat and its first task; what the test then does with it, step by step."""

    def __init__(
        self, stack: LocalStack, n: int, before_tracked: Callable[[str], None] | None = None
    ) -> None:
        self.stack = stack
        stack.sandbox.pause_webhooks()
        try:
            chat = stack.sandbox.start_chat(f"customer{n}")
            if before_tracked is not None:
                before_tracked(chat.conversation_sid)
        finally:
            stack.sandbox.resume_webhooks()
        self.conversation, self.task = chat.conversation_sid, chat.task_sid
        self.run = ChatRun(n, self.conversation, self.task, "", Plan())
        self.wait_quiet(lambda: bool(self.stack.tracked(self.conversation)), "tracked")

    def wait_quiet(self, seen: Callable[[], bool], what: str) -> None:
        """Until `seen()` and nothing is left to do for the chat: the next calls are the test's."""

        def quiet() -> bool:
            return seen() and not self.stack.tracked(self.conversation).get("outbox")

        wait_for(quiet, timeout=60, interval=0.1, what=f"{what}, and the outbox empty")

    def notices(self) -> list[str]:
        return [n["notificationType"] for n in self.stack.notices(self.conversation)]

    def closed(self) -> bool:
        open_chat = self.stack.sandbox.conversation(self.conversation)["state"] != "closed"
        return not open_chat and not self.stack.tracked(self.conversation).get("outbox")


def test_twilio_refusing_the_ends_check_notice_or_close_still_closes_each_chat_once(stack, figure_book):
    """The chat's only task is canceled before anyone takes it: the end is then the next thing
    the service does, and its calls are the next ones of their kind."""
    sb = stack.sandbox
    figures = Figures(
        "end-refused", "Twilio refuses (403) the end's TaskRouter check, its notice or its close"
    )
    first_delivery = len(sb.deliveries())
    refusals = {
        "check": {"count": 1, "path": TASKS, "method": "GET"},
        "notice": {"count": 1, "path": MESSAGES, "method": "POST"},
        "close": {"count": 2, "path": CONVERSATION, "method": "POST"},
    }
    runs: list[ChatRun] = []
    with injected(stack, figures.faults, seed=613):
        for n, refusal in enumerate(refusals.values()):
            chat = OneChat(stack, n)
            sb.faults.fail_next(status=403, **refusal)
            sb.cancel_task(chat.task)
            with contextlib.suppress(AssertionError):  # judged below: a chat left open
                wait_for(chat.closed, timeout=CLOSE_WITHIN, interval=0.1, what=f"chat {n} closed")
            runs.append(chat.run)
    verdict = judge(stack, runs)
    fill(figures, verdict, stack, first_delivery, 0)
    figures.notes.pop("joined_left_notices_missing")  # no agent ever joined these chats
    figures.notes["lost_by_design"] = "the chat-ended notice Twilio refused (skipped, rule 9)"
    skipped = stack.redis.hgetall("cft:metrics:end-steps-skipped")
    figures.notes.update(
        refusals={step: refusal["count"] for step, refusal in refusals.items()},
        end_steps_skipped=dict(sorted(skipped.items())),
    )
    figure_book.record(figures)
    assert figures.faults["http_403"] == 4  # every refusal met the call it was meant for
    # The one notice Twilio refused is the only thing missing; every chat is closed, once.
    assert verdict.problems == [f"chat-ended lost: chat 1 {runs[1].conversation}"]
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (1, 0, 0, 0)
    assert skipped == {"check": "1", "notice": "1"}


def test_a_poison_mirror_is_dead_lettered_and_the_chat_still_ends(stack, figure_book):
    sb = stack.sandbox
    figures = Figures(
        "poison-item", "another app's associatedTasks is a list: the mirror raises on every try"
    )
    first_delivery = len(sb.deliveries())
    letters_before = stack.redis.llen(DEAD_LETTERS_KEY)
    poison = {"associatedTasks": ["not", "an", "object"]}
    chat = OneChat(stack, 10, lambda sid: another_app(stack).update_conversation(sid, attributes=poison))
    figures.faults["foreign_attributes"] = 1
    offer = sb.pending_reservation(task_sid=chat.task, timeout=30)
    sb.accept(offer["sid"])
    chat.wait_quiet(lambda: "joined" in chat.notices(), "joined posted (behind the mirror given up)")
    sb.wrapup(chat.task)  # the last task: left, the mirror again, the end
    wait_for(chat.closed, timeout=CLOSE_WITHIN, interval=0.1, what="the chat closed")
    sb.complete(chat.task)
    chat.run.agent = offer["worker_sid"]
    verdict = judge(stack, [chat.run])
    fill(figures, verdict, stack, first_delivery, 0)
    letters = stack.redis.lrange(DEAD_LETTERS_KEY, letters_before, -1)
    unexpected = stack.redis.hgetall("cft:metrics:unexpected-errors")
    figures.notes.update(
        dead_letters=len(letters),
        mirror_tries_that_raised=int(unexpected.get("outbox-mirror|TypeError", 0)),
        close_tries_that_raised=int(unexpected.get("outbox-end-close|TypeError", 0)),
    )
    figure_book.record(figures)
    assert verdict.problems == []
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert chat.notices() == ["joined", "left", "chat-ended"]
    assert len(letters) >= 1 and all("retry_outbox_item" in letter for letter in letters)


def another_app(stack: LocalStack) -> TwilioGateway:
    """A Twilio client with the service's credentials, as another app on the account would use."""
    env = {name.lower(): value for name, value in stack.env.items() if name.startswith(("TWILIO_", "REDIS_"))}
    return TwilioGateway(Settings(_env_file=None, **env))
