"""An agent clicks Transfer twice, from two tabs (issue 12, defect 6; CONTRACT rule 10).

Real processes: redis-server, the receiver under gunicorn (two workers), two celery workers,
beat, the sandbox. For each chat, CLICKS requests for the same task are released at once from two
clients: one sends them all with one Idempotency-Key (a click and the plugin's retries), the
other with none. Exactly one transfer task must come of it, every 202 must name that transfer,
every 409 must name it too, and the chat must still end once, when its last task ends.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ops.localstack import LocalStack, wait_for
from tests.faults.chats import AGENTS, ChatPlayer, ChatRun, Plan, attributes, judge, wait_settled
from tests.faults.figures import Figures

pytestmark = pytest.mark.faults

CHATS = 8
CLICKS = 6  # per chat, half from each client
WEB_WORKERS = 3


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """Every receiver worker may take a browser request at once (BROWSER_CONCURRENCY), so the
    clicks meet in the /transfers view on several processes, not one after another."""
    settings = {"BROWSER_CONCURRENCY": str(WEB_WORKERS)}
    with LocalStack(
        worker_count=2, worker_concurrency=2, web_workers=WEB_WORKERS, settings=settings, workers_spec=AGENTS
    ) as running:
        yield running


def click_together(
    stack: LocalStack, run: ChatRun, target: str, answers: Counter[int]
) -> list[requests.Response]:
    """Each click's last answer; a 503 (busy) is clicked again, as the plugin does."""
    token = stack.setup.tokens[run.agent]
    body = {"taskSid": run.first_task, "targetSid": target, "mode": run.plan.transfer, "Token": token}
    gate = threading.Barrier(CLICKS)
    tabs = [requests.Session(), requests.Session()]

    def click(n: int) -> requests.Response:
        headers = {"Idempotency-Key": f"tab-a-{run.n}"} if n % 2 == 0 else {}
        gate.wait(timeout=30)
        for _ in range(50):
            response = tabs[n % 2].post(f"{stack.base_url}/transfers", json=body, headers=headers, timeout=30)
            answers[response.status_code] += 1
            if response.status_code != 503:
                break
            time.sleep(0.05)
        return response

    with ThreadPoolExecutor(max_workers=CLICKS) as pool:
        return list(pool.map(click, range(CLICKS)))


def transfer_tasks_of(stack: LocalStack, task_sid: str) -> list[str]:
    """Every transfer task made from `task_sid`, whichever request made it (CONTRACT §5)."""
    tasks = stack.sandbox.tasks()
    return [t["sid"] for t in tasks if attributes(t).get("transferredFromTaskSid") == task_sid]


def test_concurrent_clicks_from_two_clients_make_one_transfer(stack, figure_book):
    sb = stack.sandbox
    figures = Figures("double-click", f"{CLICKS} concurrent POST /transfers of one task, from two clients")
    player = ChatPlayer(stack, seed=901)
    answers: Counter[int] = Counter()  # every answer, 503s (busy) included
    final: Counter[int] = Counter()  # each click's last answer
    runs: list[ChatRun] = []
    extra_transfers = 0
    names = {sid: name for name, sid in stack.setup.workers.items()}
    for n in range(CHATS):
        rng = random.Random(f"double-click-{n}")
        chat = sb.start_chat(f"twice{n}", interactions=n % 2 == 1)  # task and invite strategies
        offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
        sb.accept(offer["sid"])
        plan = Plan(rng.choice(["WARM", "COLD"]), to_queue=n % 4 < 2)
        run = ChatRun(n, chat.conversation_sid, chat.task_sid, names[offer["worker_sid"]], plan)
        wait_for(lambda r=run: stack.tracked(r.conversation).get("members"), what="agent tracked")
        others = [a for a in stack.setup.workers if a != run.agent]
        target = stack.setup.queues["Sales"] if plan.to_queue else stack.setup.workers[rng.choice(others)]

        responses = click_together(stack, run, target, answers)
        final.update(r.status_code for r in responses)
        accepted = {r.json()["transferId"] for r in responses if r.status_code == 202}
        named = {r.json().get("transferId") for r in responses if r.status_code == 409}
        assert len(accepted) == 1 and named <= accepted, [(r.status_code, r.text) for r in responses]
        run.transfer_id = accepted.pop()
        run.transfer = wait_for(
            lambda r=run: (s := player.transfer_status(r.transfer_id or ""))["status"] != "pending" and s,
            timeout=60,
            what="transfer settled",
        )
        assert run.transfer["status"] == "created", run.transfer
        sb.accept(sb.pending_reservation(task_sid=run.transfer["transferTaskSid"], timeout=30)["sid"])
        player._finish(run, rng)
        runs.append(run)
    wait_settled(runs, stack, timeout=60)
    sb.wait_idle()
    for run in runs:
        extra_transfers += len(transfer_tasks_of(stack, run.first_task)) - 1
    verdict = judge(stack, runs)
    figures.events_sent = sum(answers.values())
    figures.chats, figures.transfers = verdict.chats, verdict.transfers
    figures.lost, figures.doubled = verdict.lost, verdict.doubled + extra_transfers
    figures.premature_ends, figures.leaked_chats = verdict.premature, verdict.leaked
    figures.notes.update(
        answers=dict(sorted(answers.items())),
        last_answer_per_click=dict(sorted(final.items())),
        transfer_tasks_beyond_one_per_chat=extra_transfers,
        strategies=dict(Counter(run.transfer.get("strategy") for run in runs)),
    )
    figure_book.record(figures)
    assert verdict.problems == []
    assert extra_transfers == 0
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert final[202] + final[409] == CHATS * CLICKS
    assert final[202] >= CHATS and final[409] >= CHATS  # the other tab's clicks are 409 (or won)
