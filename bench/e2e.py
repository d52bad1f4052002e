"""End to end and cost: the warm-transfer lifecycle against the sandbox over HTTP.

What runs where (all on the machine's cores, measured as CPU per transfer by process group):

- **this process**: the driver and the sandbox. The driver prepares chats through the sandbox's
  Python API, sends `POST /transfers` from a thread pool and reads arrivals from
  `sandbox.requests`; the sandbox serves Twilio's REST API over HTTP (a thread per kept-alive
  connection), sends webhooks from one thread and fires timers from another. They share this
  process's GIL; the driver is a small share of it (its posts and the reading of records).
- **gunicorn**: the receiver, `chat-transfer web` (master and 2 sync workers).
- **celery**: one node, `celery -A worker worker` (main process and 2 prefork processes).
- **redis-server**: embedded, the state and the broker.

The sandbox stays in this process: the driver reads arrival times and drives agents through its
Python API, and wherever it ran, its CPU would take the same two cores from the service.

Twilio's webhooks are pointed at the receiver by the service's own setup code, as `chat-transfer
setup --public-url` configures a real account (`subscribe_as_setup_does`): the workspace's
EventsFilter and the chat service's webhook filters name only the events the service handles.

- **Cost**: one full warm lifecycle (first task → warm transfer → B joins → B leaves → A leaves →
  chat ended), the requests recorded between its start and the moment everything is idle,
  listed call by call. Run twice: the first pays the cold name cache, the second is steady state.
  From the start of the lifecycle the driver only uses the sandbox's Python API (never HTTP), so
  every recorded request is the service's own.
- **End to end**: chats prepared and accepted first (idle before measuring), then `POST
  /transfers` at a constant rate from a thread pool; latency from the moment the request was
  sent to the sandbox's arrival of (a) the transfer task's create and (b) the `transfer-started`
  message. Sent time and arrival time come from the same clock (the sandbox's, in this process).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common import percentile, say
from ops.localstack import LocalStack, wait_for
from sandbox.app import RequestRecord

AGENTS = 20
AGENT_CAPACITY = 50


@dataclass
class Call:
    n: int
    method: str
    product: str
    template: str
    purpose: str
    choice: str = ""  # why it is the service's choice, when it is


@dataclass
class CostResult:
    calls: list[Call] = field(default_factory=list)
    cold_cache_calls: list[Call] = field(default_factory=list)
    # The same story with the cost knob off (MIRROR_ASSOCIATED_TASKS false): what the story itself
    # needs, with the end's safety check (VERIFY_END_WITH_TASKROUTER) kept on, as it always should be.
    lean_calls: list[Call] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.calls)


@dataclass
class RateResult:
    rate: float
    transfers: int
    seconds: float
    created_p50_ms: float
    created_p99_ms: float
    started_p50_ms: float
    started_p99_ms: float
    started_max_ms: float
    request_p50_ms: float  # the POST /transfers answer itself
    request_p99_ms: float
    failed: int
    missing: int
    late_sends: int
    cpu_ms_per_transfer: dict[str, float] = field(default_factory=dict)  # by process group


@dataclass
class E2EResult:
    rates: list[RateResult] = field(default_factory=list)
    cost: CostResult = field(default_factory=CostResult)
    worker_processes: int = 2
    worker_view: dict[str, dict[str, Any]] = field(default_factory=dict)  # per rate


def worker_view(log_text: str) -> dict[str, Any]:
    """From the worker's JSON log: each Twilio call's latency by endpoint, and job runtimes."""
    calls: dict[str, list[float]] = {}
    jobs: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "twilio call":
            url = str(entry.get("url", ""))
            path = re.sub(r"/(WT|CH|WK|WQ|WR|IM|WS)[0-9a-f]{32}", r"/{\1}", url.split(".com", 1)[-1])
            calls.setdefault(f"{entry.get('method')} {path}", []).append(float(entry.get("ms", 0)))
        elif "succeeded in" in str(entry.get("msg", "")):
            data = entry.get("data") or {}
            jobs.setdefault(str(data.get("name")), []).append(float(data.get("runtime", 0)) * 1000)
    return {
        "twilio_call_ms": {
            k: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)} for k, v in calls.items()
        },
        "job_ms": {
            k: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)} for k, v in jobs.items()
        },
    }


def _params(record: RequestRecord) -> dict[str, Any]:
    return record.params or {}


def _json(value: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def describe(record: RequestRecord) -> tuple[str, str]:
    """What a recorded call was for, and whether it is the service's own choice (not required by
    the story itself)."""
    template = record.template or record.path
    params = _params(record)
    if record.product == "iam":
        return "Flex token check for POST /transfers (CONTRACT §4)", ""
    if template.endswith("/Messages") and record.method == "POST":
        kind = _json(params.get("Attributes")).get("notificationType", "?")
        return f"notice `{kind}`", ""
    if template.endswith("/Messages") and record.method == "GET":
        return "notice keys already posted (a retried notice)", "service: idempotent retry"
    if template.endswith("/Conversations/{Sid}") and record.method == "GET":
        return (
            "read conversation attributes (for the associatedTasks merge)",
            "service: associatedTasks mirror",
        )
    if template.endswith("/Conversations/{Sid}") and record.method == "POST":
        if params.get("State") == "closed":
            return "final associatedTasks + State=closed (end)", ""
        return "write associatedTasks mirror", "service: associatedTasks mirror"
    if template.endswith("/Tasks") and record.method == "POST":
        return "create the transfer task", ""
    if template.endswith("/Tasks") and record.method == "GET":
        expression = str(params.get("EvaluateTaskAttributes", ""))
        if "transferId" in expression:
            return "look up the transfer task by its transferId marker (retry)", "service: idempotent retry"
        return "open tasks on the chat before the end (end verification)", "service: end verification"
    if template.endswith("/Tasks/{Sid}") and record.method == "GET":
        return "fetch the task being transferred", ""
    if template.endswith("/Tasks/{Sid}") and record.method == "POST":
        if "AssignmentStatus" in params:
            return f"task → {params['AssignmentStatus']}", ""
        return "chatTransferData on the original task (If-Match)", ""
    if template.endswith("/Workers/{Sid}") and record.method == "GET":
        return "target worker's display name (cached 1 h in Redis)", "service: name lookup (cached)"
    if template.endswith("/TaskQueues/{Sid}") and record.method == "GET":
        return "target queue's name (cached 1 h in Redis)", "service: name lookup (cached)"
    if template.endswith("/Reservations"):
        return "who holds the task (token check fallback)", "service: holder lookup"
    return f"{record.method} {template}", ""


def subscribe_as_setup_does(stack: LocalStack) -> None:
    """Point Twilio's webhooks at the receiver the way `chat-transfer setup --public-url` does in
    production, with the service's own setup code: the workspace's EventsFilter and the chat
    service's webhook filters name only the events the service handles. LocalStack subscribes
    to every event; measured that way, the receiver and the workers would also pay for events a
    real account never sends them (of a transfer: the new task's workflow and queue events and
    the original task's `task.updated`, 4 of its 5 TaskRouter events when the task waits).

    Setup runs as on an account with no event callback yet: on LocalStack's own callback, which has
    no filter (every event), setup would add nothing, since it never narrows what others hear."""
    from ops.setup_account import Report

    stack.sandbox.set_event_callback(None)
    stack.account_setup().point_webhooks(
        stack.setup.workspace_sid,
        stack.setup.chat_service_sid,
        stack.base_url,
        Report(),
        scope="service",
        dry_run=False,
    )


def settle(stack: LocalStack, quiet: float = 0.4, timeout: float = 120.0) -> None:
    """Until nothing moves: webhooks delivered, Celery queues empty and nothing unacknowledged,
    and no new sandbox request for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        stack.sandbox.wait_idle(timeout=30)
        busy = any(stack.redis.llen(q) for q in ("events", "transfers")) or stack.redis.hlen("unacked")
        count = len(stack.sandbox.requests)
        if not busy and count == seen:
            return
        seen = count
        time.sleep(quiet)
    raise AssertionError("the stack never settled")


def kinds(stack: LocalStack, conversation: str) -> list[str]:
    return [n["notificationType"] for n in stack.notices(conversation)]


def warm_lifecycle(stack: LocalStack, agent_a: str, agent_b: str) -> list[RequestRecord]:
    sb, setup = stack.sandbox, stack.setup
    settle(stack)
    start = len(sb.requests)
    chat = sb.start_chat("Maria", first_message="Hi, my order never arrived")
    conversation = chat.conversation_sid
    sb.accept_task(chat.task_sid, worker_sid=setup.workers[agent_a], timeout=30)
    wait_for(lambda: "joined" in kinds(stack, conversation), 30, what="A joined")
    sb.agent_message(conversation, setup.workers[agent_a], "Hello Maria, let me look.")
    response = requests.post(
        f"{stack.base_url}/transfers",
        json={
            "taskSid": chat.task_sid,
            "targetSid": setup.workers[agent_b],
            "mode": "WARM",
            "Token": setup.tokens[agent_a],
        },
        timeout=10,
    )
    response.raise_for_status()
    transfer_id = response.json()["transferId"]
    status = wait_for(
        lambda: (
            (s := requests.get(f"{stack.base_url}/transfers/{transfer_id}", timeout=10).json())["status"]
            != "pending"
            and s
        ),
        30,
        what="transfer settled",
    )
    new_task = status["transferTaskSid"]
    sb.accept_task(new_task, worker_sid=setup.workers[agent_b], timeout=30)
    wait_for(lambda: kinds(stack, conversation).count("joined") == 2, 30, what="B joined")
    sb.agent_message(conversation, setup.workers[agent_b], "Hi Maria, I can refund that.")
    sb.wrapup(new_task)
    sb.complete(new_task)
    wait_for(lambda: "left" in kinds(stack, conversation), 30, what="B left")
    sb.wrapup(chat.task_sid)
    if sb.task_status(chat.task_sid) != "completed":
        sb.complete(chat.task_sid)
    wait_for(lambda: sb.conversation(conversation)["state"] == "closed", 30, what="chat ended")
    wait_for(lambda: stack.tracked(conversation).get("ended") == "ended", 30, what="tracking finished")
    settle(stack)
    with sb.core.lock:
        return list(sb.requests[start:])


def calls_of(records: list[RequestRecord]) -> list[Call]:
    out = []
    for n, record in enumerate(records, 1):
        purpose, choice = describe(record)
        out.append(Call(n, record.method, record.product, record.template or record.path, purpose, choice))
    return out


@dataclass
class Prepared:
    conversation: str
    task_sid: str
    agent: str
    target: str


def prepare(stack: LocalStack, count: int, names: list[str]) -> list[Prepared]:
    sb, setup = stack.sandbox, stack.setup
    by_sid = {sid: name for name, sid in setup.workers.items()}
    chats = [sb.start_chat(f"customer{i}", first_message="Hi") for i in range(count)]
    prepared = []
    for chat in chats:
        offer = sb.pending_reservation(task_sid=chat.task_sid, timeout=30)
        sb.accept(offer["sid"])
        agent = by_sid[offer["worker_sid"]]
        target = names[(names.index(agent) + 1) % len(names)]
        prepared.append(Prepared(chat.conversation_sid, chat.task_sid, agent, target))
    settle(stack)
    return prepared


def process_groups(stack: LocalStack) -> dict[str, list[int]]:
    embedded = getattr(stack, "_embedded", None)
    redis_process = getattr(embedded, "_process", None)
    return {
        "sandbox + driver (this process)": [os.getpid()],
        "receiver (gunicorn)": [stack.web.process.pid],
        "celery worker": [w.process.pid for w in stack.workers],
        "redis-server": [redis_process.pid] if redis_process is not None else [],
    }


def cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU time used so far by each group of processes and their live descendants, each process
    counted once: the service's processes are this process's children, and count in their own
    group, not in this process's."""
    import psutil

    owner = {pid: name for name, pids in groups.items() for pid in pids}
    out = {}
    for name, pids in groups.items():
        total = 0.0
        todo = list(pids)
        while todo:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(todo.pop())
                times = process.cpu_times()
                total += times.user + times.system
                todo += [child.pid for child in process.children() if owner.get(child.pid, name) == name]
        out[name] = total
    return out


def measure_rate(stack: LocalStack, chats: list[Prepared], rate: float) -> RateResult:
    sb, setup = stack.sandbox, stack.setup
    groups = process_groups(stack)
    cpu_before = cpu_seconds(groups)
    start_index = len(sb.requests)
    sent: dict[str, float] = {}
    answer_ms: list[float] = []
    failed = 0
    late = 0
    lock = threading.Lock()
    local = threading.local()

    def post(chat: Prepared) -> None:
        nonlocal failed
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False  # no proxy on loopback: not read from the environment per call
        t0 = sb.core.now()
        try:
            response = session.post(
                f"{stack.base_url}/transfers",
                json={
                    "taskSid": chat.task_sid,
                    "targetSid": setup.workers[chat.target],
                    "mode": "WARM",
                    "Token": setup.tokens[chat.agent],
                },
                timeout=30,
            )
            ok = response.status_code == 202
        except requests.RequestException:
            ok = False
        t1 = sb.core.now()
        with lock:
            if ok:
                sent[response.json()["transferId"]] = t0
                answer_ms.append((t1 - t0) * 1000)
            else:
                failed += 1

    begin = time.monotonic() + 0.05
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i, chat in enumerate(chats):
            due = begin + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.005:
                late += 1
            pool.submit(post, chat)
    seconds = len(chats) / rate

    created: dict[str, float] = {}  # by transferId, whether or not its POST /transfers answered yet
    started: dict[str, float] = {}
    seen = start_index
    unfinished: list[RequestRecord] = []

    def arrivals() -> tuple[dict[str, float], dict[str, float]]:
        """Every arrival so far; each record is read once, when the sandbox has answered it."""
        nonlocal seen
        with sb.core.lock:
            records = unfinished + sb.requests[seen:]
            seen = len(sb.requests)
        unfinished.clear()
        for record in records:
            if record.status is None:
                unfinished.append(record)  # its template is not known yet
                continue
            if record.method != "POST":
                continue
            params = _params(record)
            template = record.template or ""
            if template.endswith("/Tasks"):
                transfer_id = _json(params.get("Attributes")).get("transferId")
                if transfer_id:
                    created.setdefault(transfer_id, record.at)
            elif template.endswith("/Messages"):
                key = str(_json(params.get("Attributes")).get("noticeKey", ""))
                if key.startswith("transfer-started:"):
                    started.setdefault(key.split(":", 1)[1], record.at)
        return created, started

    with contextlib.suppress(AssertionError):  # what never arrived is reported as missing
        wait_for(lambda: sent.keys() <= arrivals()[1].keys(), 300, 0.2, "every transfer-started")
    arrivals()
    created_ms = [(created[t] - sent[t]) * 1000 for t in sent if t in created]
    started_ms = [(started[t] - sent[t]) * 1000 for t in sent if t in started]
    settle(stack)
    cpu_after = cpu_seconds(groups)
    cpu_per_transfer = {
        name: (cpu_after[name] - cpu_before[name]) / max(1, len(chats)) * 1000 for name in groups
    }
    return RateResult(
        rate=rate,
        transfers=len(chats),
        seconds=seconds,
        created_p50_ms=percentile(created_ms, 50),
        created_p99_ms=percentile(created_ms, 99),
        started_p50_ms=percentile(started_ms, 50),
        started_p99_ms=percentile(started_ms, 99),
        started_max_ms=max(started_ms, default=float("nan")),
        request_p50_ms=percentile(answer_ms, 50),
        request_p99_ms=percentile(answer_ms, 99),
        failed=failed,
        missing=len(sent) - len(started_ms),
        late_sends=late,
        cpu_ms_per_transfer=cpu_per_transfer,
    )


def workers_spec() -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "name": f"agent{i:02d}",
            "full_name": f"Agent{i:02d} Example",
            "skills": ["sales", "support"],
            "chat_capacity": AGENT_CAPACITY,
        }
        for i in range(AGENTS)
    )


def run(quick: bool, profile_transfer: Any = None) -> E2EResult:
    result = E2EResult()
    # Quick mode leaves 50/s out: on two cores its backlog alone takes minutes to drain.
    plan = [(5.0, 3.0), (20.0, 3.0)] if quick else [(5.0, 10.0), (20.0, 10.0), (50.0, 4.0)]
    spec = workers_spec()
    names = [w["name"] for w in spec]
    with LocalStack(worker_count=1, worker_concurrency=result.worker_processes, workers_spec=spec) as stack:
        say(f"e2e: stack up ({stack.base_url}, sandbox {stack.sandbox.base_url})")
        subscribe_as_setup_does(stack)
        # Cost first, on a fresh stack: the first lifecycle pays the cold name cache.
        cold, steady = cost_story(stack, names)
        result.cost.cold_cache_calls = calls_of(cold)
        result.cost.calls = calls_of(steady)
        say(f"cost: {len(steady)} Twilio calls per warm lifecycle ({len(cold)} with a cold name cache)")
        for name in names:
            stack.sandbox.set_activity(stack.setup.workers[name], "Available")
        if profile_transfer is not None:
            profile_transfer(stack)
        total = sum(int(rate * seconds) for rate, seconds in plan)
        started = time.monotonic()
        chats = prepare(stack, total, names)
        say(f"e2e: {total} chats prepared and accepted in {time.monotonic() - started:.1f} s")
        offset = 0
        for rate, seconds in plan:
            count = int(rate * seconds)
            log_start = len(stack.workers[0].log())
            measured = measure_rate(stack, chats[offset : offset + count], rate)
            result.worker_view[f"{rate:g}"] = worker_view(stack.workers[0].log()[log_start:])
            offset += count
            result.rates.append(measured)
            say(
                f"e2e {rate:>4.0f}/s x {count}: transfer-started p50 {measured.started_p50_ms:.0f} ms "
                f"p99 {measured.started_p99_ms:.0f} ms (task created p99 {measured.created_p99_ms:.0f} ms), "
                f"failed {measured.failed}, missing {measured.missing}"
            )
    result.cost.lean_calls = lean_cost(spec, names)
    say(f"cost: {len(result.cost.lean_calls)} Twilio calls per warm lifecycle with the mirror off")
    return result


# VERIFY_END_WITH_TASKROUTER is a safety guard, not a cost knob: the only thing that stops an early
# end when a task.created is late or lost (a task made by Flex's native transfer). It stays on.
LEAN_SETTINGS = {"MIRROR_ASSOCIATED_TASKS": "false", "VERIFY_END_WITH_TASKROUTER": "true"}


def cost_story(stack: LocalStack, names: list[str]) -> tuple[list[RequestRecord], list[RequestRecord]]:
    """The warm lifecycle between the first two agents (the others offline), twice: the first run
    pays the cold name cache, the second is the steady state."""
    for name in names[2:]:
        stack.sandbox.set_activity(stack.setup.workers[name], "Offline")
    cold = warm_lifecycle(stack, names[0], names[1])
    return cold, warm_lifecycle(stack, names[0], names[1])


def lean_cost(spec: tuple[dict[str, Any], ...], names: list[str]) -> list[Call]:
    """The steady-state warm lifecycle on a stack with the `associatedTasks` mirror off (the end's
    TaskRouter check stays on)."""
    with LocalStack(worker_count=1, worker_concurrency=2, workers_spec=spec, settings=LEAN_SETTINGS) as stack:
        subscribe_as_setup_does(stack)
        return calls_of(cost_story(stack, names)[1])
