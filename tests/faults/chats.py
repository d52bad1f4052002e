"""Driving real chats through the sandbox, and judging how each one ended.

`ChatPlayer` plays what customers and agents do (a chat arrives, an agent accepts, maybe a warm
or cold transfer through `POST /transfers`, the agents finish in a random order); the sandbox's
TaskRouter and Conversations send their webhooks to the receiver, with whatever faults the
scenario configured. `judge()` then reads the sandbox — what Twilio would hold — and counts what
was lost, doubled, ended early or left open.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

from ops.localstack import LocalStack, wait_for

CLOSING_EVENTS = ("task.wrapup", "task.completed", "task.canceled", "task.deleted")

# Enough agents and chat capacity for a dozen chats at once, each with a transfer.
AGENTS = tuple(
    {"name": name, "full_name": f"{name.title()} Agent", "skills": ["sales", "support"], "chat_capacity": 12}
    for name in ("alice", "bob", "carol", "dave", "erin", "frank")
)


def two_worker_stack(settings: dict[str, str], *, beat: bool = True) -> LocalStack:
    """The service for a chat scenario with its own settings: two workers of two processes each,
    beat (unless told otherwise), and the agents above."""
    return LocalStack(worker_count=2, worker_concurrency=2, beat=beat, settings=settings, workers_spec=AGENTS)


@dataclass(frozen=True)
class Plan:
    transfer: str | None = None  # None, "WARM" or "COLD"
    to_queue: bool = False


@dataclass
class ChatRun:
    n: int
    conversation: str
    first_task: str
    agent: str
    plan: Plan
    transfer_id: str | None = None
    transfer: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def tasks(self) -> list[str]:
        second = self.transfer.get("transferTaskSid")
        return [self.first_task, *([second] if second else [])]


@dataclass
class Verdict:
    chats: int = 0
    transfers: int = 0
    lost: int = 0
    doubled: int = 0
    premature: int = 0
    leaked: int = 0
    max_end_latency: float = 0.0
    latencies: dict[str, float] = field(default_factory=dict)  # chat -> seconds, last task end to close
    problems: list[str] = field(default_factory=list)
    missing_agent_notices: int = 0
    close_requests: int = 0  # every close request sent, whether it took effect or not

    def flag(self, what: str, run: ChatRun, detail: str = "") -> None:
        self.problems.append(f"{what}: chat {run.n} {run.conversation} {detail}".rstrip())


class ChatPlayer:
    """Plays chats against a running stack; thread-safe (the sandbox's API is).

    Customers and agents act only while at most `backlog` webhooks and queued messages wait
    (the sandbox sends its webhooks one at a time, as one TaskRouter workspace does): the
    scenarios measure what faults do, not how long a queue grows past what two cores drain.
    """

    def __init__(self, stack: LocalStack, seed: int, patience: float = 120.0, backlog: int = 10) -> None:
        self.stack = stack
        self.sb = stack.sandbox
        self.seed = seed
        self.patience = patience
        self.backlog = backlog
        self.transfer_posts = 0
        self.transfer_retries: Counter[int] = Counter()
        self.started = 0  # chats begun so far
        self._lock = threading.Lock()
        self._names = {sid: name for name, sid in stack.setup.workers.items()}

    # ---- one chat ----------------------------------------------------------------------------

    def _admit(self) -> None:
        wait_for(
            lambda: backlog(self.stack) <= self.backlog,
            timeout=self.patience,
            interval=0.05,
            what="the webhooks and queues drained",
        )

    def play(self, n: int, plan: Plan) -> ChatRun:
        rng = random.Random(f"{self.seed}-{n}")
        sb = self.sb
        self._admit()
        with self._lock:
            self.started += 1
        chat = sb.start_chat(f"customer{n}")
        offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
        sb.accept(offer["sid"])
        run = ChatRun(n, chat.conversation_sid, chat.task_sid, self._names[offer["worker_sid"]], plan)
        try:
            if plan.transfer:
                self._admit()
                self._transfer(run, rng)
            self._admit()
            self._finish(run, rng)
        except Exception as error:  # recorded and judged: one chat's trouble does not hide the others
            run.error = f"{type(error).__name__}: {error}"
        return run

    def _transfer(self, run: ChatRun, rng: random.Random) -> None:
        setup = self.stack.setup
        if run.plan.to_queue:
            target = setup.queues["Sales"]
        else:
            target = setup.workers[rng.choice([a for a in setup.workers if a != run.agent])]
        body = {
            "taskSid": run.first_task,
            "targetSid": target,
            "mode": run.plan.transfer,
            "Token": setup.tokens[run.agent],
        }
        run.transfer_id = self._post_transfer(body)
        run.transfer = wait_for(
            lambda: (s := self.transfer_status(run.transfer_id or ""))["status"] != "pending" and s,
            timeout=self.patience,
            interval=0.1,
            what=f"transfer {run.transfer_id} settled",
        )
        if run.transfer["status"] != "created":
            raise RuntimeError(
                f"transfer {run.transfer_id} {run.transfer['status']}: {run.transfer['reason']}"
            )
        offer = self.sb.pending_reservation(task_sid=run.transfer["transferTaskSid"], timeout=30)
        self.sb.accept(offer["sid"])

    def _post_transfer(self, body: dict[str, str]) -> str:
        """POST /transfers; a 503 (Twilio's token check or Redis unreachable) is tried again, as
        the Flex UI's agent would."""
        url = f"{self.stack.base_url}/transfers"
        for attempt in range(30):
            with self._lock:
                self.transfer_posts += 1
            response = requests.post(url, json=body, timeout=30)
            if response.status_code == 202:
                with self._lock:
                    self.transfer_retries[attempt] += 1
                return str(response.json()["transferId"])
            if response.status_code != 503:
                raise RuntimeError(f"POST /transfers answered {response.status_code}: {response.text}")
            time.sleep(0.2 * (attempt + 1))  # the agent clicks again a moment later
        raise RuntimeError("POST /transfers kept answering 503")

    def transfer_status(self, transfer_id: str) -> dict[str, Any]:
        return requests.get(f"{self.stack.base_url}/transfers/{transfer_id}", timeout=30).json()

    def _finish(self, run: ChatRun, rng: random.Random) -> None:
        """Every agent on the chat finishes (wrap-up, then complete), in a random order."""
        sb = self.sb
        order = list(run.tasks)
        rng.shuffle(order)
        for task_sid in order:
            if run.plan.transfer == "COLD" and task_sid == run.first_task:
                # The service moves the first agent to wrap-up itself; the agent then completes.
                wait_for(
                    lambda: sb.task_status(run.first_task) in ("wrapping", "completed"),
                    timeout=self.patience,
                    what="the cold transfer's first agent in wrap-up",
                )
            if sb.task_status(task_sid) == "assigned":
                sb.wrapup(task_sid)
            if sb.task_status(task_sid) == "wrapping":
                sb.complete(task_sid)

    # ---- many chats --------------------------------------------------------------------------

    def play_many(self, plans: list[Plan], parallel: int = 8, first: int = 0) -> list[ChatRun]:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return list(pool.map(lambda np: self.play(*np), enumerate(plans, start=first)))


def transfer_plans(count: int) -> list[Plan]:
    """Warm and cold, to an agent and to a queue, in turn."""
    kinds = [Plan(mode, to_queue) for mode in ("WARM", "COLD") for to_queue in (False, True)]
    return [kinds[n % len(kinds)] for n in range(count)]


def backlog(stack: LocalStack) -> int:
    """Webhooks the sandbox has yet to send, plus messages waiting in the service's queues."""
    unsent = sum(1 for d in stack.sandbox.deliveries() if not d.attempts and d.fault != "drop")
    return unsent + sum(stack.redis.llen(queue) for queue in ("events", "transfers"))


def mixed_plans(count: int, seed: int, transfer_share: float = 0.5) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for _ in range(count):
        if rng.random() < transfer_share:
            plans.append(Plan(rng.choice(["WARM", "COLD"]), to_queue=rng.random() < 0.5))
        else:
            plans.append(Plan())
    return plans


@contextmanager
def injected(stack: LocalStack, counts: Counter[str], seed: int, **faults: Any) -> Iterator[None]:
    """The sandbox's faults on (seeded) for the block; what was injected is added to `counts`."""
    sandbox = stack.sandbox
    sandbox.faults.reset()
    sandbox.faults.configure(seed=seed, **faults)
    try:
        yield
    finally:
        counts.update(sandbox.faults.counts)
        sandbox.faults.reset()


# ---- reading back what happened ---------------------------------------------------------------


def close_requests(stack: LocalStack, conversation: str) -> list[Any]:
    return [
        r
        for r in stack.sandbox.requests_to(product="conversations", method="POST")
        if r.params.get("State") == "closed" and r.path.rstrip("/").endswith(conversation)
    ]


def applied(record: Any) -> bool:
    """The request took effect: answered 2xx, or 500 after the change was committed."""
    return (record.status or 0) // 100 == 2 or record.fault == "http_500_after_commit"


def task_end_time(stack: LocalStack, task_sid: str) -> float | None:
    """When TaskRouter took the task out of flight (sandbox clock), None while it is in flight."""
    for event in stack.sandbox.events(task_sid=task_sid, types=CLOSING_EVENTS):
        return event["event_date_ms"] / 1000
    return None


def chat_tasks(stack: LocalStack, conversation: str) -> list[str]:
    return [t["sid"] for t in stack.sandbox.tasks(where=lambda a: a.get("conversationSid") == conversation)]


def settled(runs: Iterable[ChatRun], stack: LocalStack) -> Callable[[], bool]:
    """Every chat closed and nothing left to do for it."""
    runs = list(runs)

    def done() -> bool:
        for run in runs:
            if stack.sandbox.conversation(run.conversation)["state"] != "closed":
                return False
            state = stack.tracked(run.conversation)
            if state.get("ended") != "ended" or state.get("outbox"):
                return False
        return True

    return done


def wait_settled(runs: list[ChatRun], stack: LocalStack, timeout: float) -> bool:
    try:
        wait_for(settled(runs, stack), timeout=timeout, interval=0.2, what="every chat settled")
    except AssertionError:
        return False
    return True


def judge(stack: LocalStack, runs: list[ChatRun]) -> Verdict:
    """Lost, doubled, early and open, read from the sandbox (what Twilio would hold)."""
    verdict = Verdict(chats=len(runs))
    for run in runs:
        if run.error:
            verdict.flag("driver error", run, run.error)
        if run.transfer_id:
            verdict.transfers += 1
            made = stack.sandbox.tasks(where=lambda a, t=run.transfer_id: a.get("transferId") == t)
            if run.transfer.get("status") != "created" or not made:
                verdict.lost += 1
                verdict.flag("transfer lost", run, f"{run.transfer_id} {run.transfer}")
            if len(made) > 1:
                verdict.doubled += len(made) - 1
                verdict.flag("transfer doubled", run, f"{[t['sid'] for t in made]}")
        notices = stack.notices(run.conversation)
        keys = Counter(n.get("noticeKey") for n in notices)
        extra = sum(count - 1 for count in keys.values())
        if extra:
            verdict.doubled += extra
            verdict.flag("notice doubled", run, str({k: c for k, c in keys.items() if c > 1}))
        started = sum(1 for k in keys if str(k).startswith("transfer-started"))
        if run.transfer.get("status") == "created" and started == 0:
            verdict.lost += 1
            verdict.flag("transfer-started lost", run)
        sent = close_requests(stack, run.conversation)
        verdict.close_requests += len(sent)
        closes = [r for r in sent if applied(r)]
        closed = stack.sandbox.conversation(run.conversation)["state"] == "closed"
        if not closed:
            verdict.leaked += 1
            verdict.flag("left open", run)
            continue
        if len(closes) > 1:
            verdict.doubled += len(closes) - 1
            verdict.flag("closed twice", run)
        if keys["chat-ended"] == 0:
            verdict.lost += 1
            verdict.flag("chat-ended lost", run)
        tasks = chat_tasks(stack, run.conversation)
        ends = [task_end_time(stack, t) for t in tasks]
        closed_at = min(r.at for r in closes) if closes else None
        if closed_at is not None and any(e is None or e > closed_at for e in ends):
            verdict.premature += 1
            verdict.flag("ended early", run, f"tasks {tasks} ended {ends}, chat closed {closed_at}")
        elif closed_at is not None and ends:
            verdict.latencies[run.conversation] = round(closed_at - max(e for e in ends if e), 2)
        joined = sum(1 for k in keys if str(k).startswith("joined"))
        left = sum(1 for k in keys if str(k).startswith("left"))
        verdict.missing_agent_notices += 2 * len(run.tasks) - joined - left
    verdict.max_end_latency = max(verdict.latencies.values(), default=0.0)
    return verdict


def deliveries_since(stack: LocalStack, start: int) -> list[Any]:
    return stack.sandbox.deliveries()[start:]


def event_counts(deliveries: list[Any]) -> dict[str, int]:
    return dict(Counter(d.kind for d in deliveries))


def attributes(task: dict[str, Any]) -> dict[str, Any]:
    return json.loads(task["attributes"])
