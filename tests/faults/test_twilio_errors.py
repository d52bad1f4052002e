"""Twilio answering 429 and 500 to a fifth of the service's calls (issue 6, CONTRACT §6 rule 8).

Some 500s come after the change was committed — the write happened, the answer says it did not —
so a retry that simply repeats itself would make a second transfer task or post a notice twice.
"""

from __future__ import annotations

import pytest

from tests.faults.chats import ChatPlayer, injected, judge, transfer_plans, wait_settled
from tests.faults.figures import Figures
from tests.faults.test_webhook_faults import fill
from worker.adapters.dead_letters import DEAD_LETTERS_KEY

pytestmark = pytest.mark.faults

CHATS = 24


def test_twenty_percent_429_and_500_every_transfer_completes_once(chat_stack, figure_book):
    stack, sb = chat_stack, chat_stack.sandbox
    figures = Figures("twilio-429-500", "Twilio answers 429 / 500 to 20 % of REST calls")
    seed = 603
    plans = transfer_plans(CHATS)
    first_delivery, first_request = len(sb.deliveries()), len(sb.requests)
    player = ChatPlayer(stack, seed, patience=180)
    faults = {"rate_429": 0.08, "rate_500": 0.06, "rate_500_after_commit": 0.06, "retry_after": 1}
    with injected(stack, figures.faults, seed, **faults):
        runs = player.play_many(plans)
        wait_settled(runs, stack, timeout=180)
    verdict = judge(stack, runs)
    fill(figures, verdict, stack, first_delivery, player.transfer_posts)
    calls = sb.requests[first_request:]
    figures.notes.update(
        twilio_calls=len(calls),
        transfer_requests_answered_503=player.transfer_posts - verdict.transfers,
        dead_letters=stack.redis.llen(DEAD_LETTERS_KEY),
    )
    figure_book.record(figures)
    assert figures.faults["http_500_after_commit"] > 0 and figures.faults["http_429"] > 0
    assert 0.15 < figures.faults_injected / len(calls) < 0.25  # a fifth, as configured
    assert verdict.problems == []
    assert verdict.transfers == CHATS
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert figures.notes["dead_letters"] == 0
