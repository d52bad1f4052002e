"""Scale: 10,000 tracked chats in Redis, and one reconciliation pass over them.

Each chat is written by `ConversationStore.transition` with the domain's own transitions, in the
state a chat is in mid-way through a warm transfer: two tasks in flight (A's and the transfer
task), two agents joined, the notices of that story queued and then drained (outbox empty, lease
released), plus the transfer's record. Bytes per chat come from INFO used_memory before/after and
from MEMORY USAGE of one chat's keys.

The sandbox (in this process, no workers, no event callback) holds every task, so the pass fetches
real tasks that are still in flight and changes nothing. Its routing dispatcher is switched off on
this instance while the tasks are created: with no workers it has nothing to dispatch, and its
per-create scan of every pending task is quadratic in the number of tasks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import redis

from bench.common import say
from ops.embedded_redis import EmbeddedRedis
from sandbox import Sandbox
from sandbox.seeding import web_chat_task_attributes
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.transfer_store import TransferStore
from worker.domain.model import ConversationState, OutboxKind, RetryLimits, TransferInfo
from worker.domain.transfer import TransferRecord, TransferStatus
from worker.handlers.deps import build_deps
from worker.handlers.reconcile import reconcile
from worker.handlers.requeue import customer_routing
from worker.settings import Settings


@dataclass
class ScaleResult:
    chats: int = 0
    reconciled_chats: int = 0
    bytes_per_chat_info: float = 0.0
    bytes_per_chat_keys: dict[str, int] = field(default_factory=dict)
    state_json_bytes: int = 0
    dedupe_key_bytes: int = 0
    write_seconds: float = 0.0
    full_pass: dict[str, float] = field(default_factory=dict)  # one pass, the default budget
    full_pass_extrapolated: bool = False
    twilio_seconds_in_full_pass: float = 0.0


def customer_task_attributes(conversation: str) -> dict[str, object]:
    """What a web chat's task carries, as the sandbox's `start_chat` makes it."""
    return web_chat_task_attributes("Maria Garcia", conversation)


def realistic_state(state: ConversationState, n: int, task_a: str, task_b: str, now: float) -> None:
    transfer_id = f"{n:032x}"
    state.track(task_a, language="en-US")
    state.offered("alice", "WK" + "1" * 32, "Alice", task_a)
    state.accepted("alice", "WK" + "1" * 32, "Alice", task_a)
    state.open_hold(transfer_id, "transfer", now)
    # As the transfer handler keeps it when the hold opens: what rule 4 would requeue with.
    attributes = customer_task_attributes(state.sid)
    state.remember_routing(customer_routing(attributes, "WW" + "3" * 32, "chat", None))
    state.hold_created(
        transfer_id, task_b, transfer=TransferInfo(transfer_id, "WARM", task_a, "Bob"), now=now
    )
    state.offered("bob", "WK" + "2" * 32, "Bob", task_b)
    state.accepted("bob", "WK" + "2" * 32, "Bob", task_b)
    fence = state.acquire_lease("bench", now, 60.0)
    while fence is not None and (item := state.next_item(fence, now, 60.0, RetryLimits())) is not None:
        if item.kind == OutboxKind.END:
            state.end_checked(fence, item.id, [])
        else:
            state.item_done(fence, item.id)


def transfer_record(n: int, task_a: str, task_b: str, conversation: str) -> TransferRecord:
    record = TransferRecord(
        id=f"{n:032x}",
        task_sid=task_a,
        target_sid="WK" + "2" * 32,
        mode="WARM",
        requested_by="WK" + "1" * 32,
        created_at=time.time(),
    )
    record.conversation_sid = conversation
    record.target_name = "Bob"
    record.strategy = "task"
    record.transfer_task_sid = task_b
    record.steps = ["hold", "target", "create", "track", "original", "done"]
    record.status = TransferStatus.CREATED
    record.attempts = 1
    return record


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def run(quick: bool, chats: int | None = None) -> ScaleResult:
    chats = chats or (2_000 if quick else 10_000)
    result = ScaleResult(chats=chats)
    with EmbeddedRedis() as server, Sandbox(seed=11) as sb:
        client = redis.Redis.from_url(server.url)
        setup = sb.seed_flex(workers=[])
        ws = sb.taskrouter.ws(setup.workspace_sid)
        sb.taskrouter.dispatch = lambda _ws: None  # type: ignore[method-assign]  # see the docstring
        started = time.perf_counter()
        conversations = [f"CH{n:032x}" for n in range(chats)]
        tasks: list[tuple[str, str]] = []
        with sb.core.lock:
            for conversation in conversations:
                pair = []
                for _ in range(2):
                    task = sb.taskrouter.create_task(
                        ws,
                        workflow_sid=setup.assign_to_anyone_workflow_sid,
                        attributes=json.dumps(customer_task_attributes(conversation)),
                        task_channel="chat",
                    )
                    pair.append(task.sid)
                tasks.append((pair[0], pair[1]))
        say(f"scale: {2 * chats} tasks in the sandbox in {time.perf_counter() - started:.1f} s")

        store = ConversationStore(client, 7 * 24 * 3600)
        transfers = TransferStore(client)
        before = used_memory(client)
        started = time.perf_counter()
        now = time.time()
        for n, (conversation, (task_a, task_b)) in enumerate(zip(conversations, tasks, strict=True)):
            store.transition(
                conversation, lambda s, n=n, a=task_a, b=task_b: realistic_state(s, n, a, b, now)
            )
            transfers.create(transfer_record(n, task_a, task_b, conversation))
        result.write_seconds = time.perf_counter() - started
        after = used_memory(client)
        result.bytes_per_chat_info = (after - before) / chats
        sample, (task_a, task_b) = conversations[0], tasks[0]
        usage = {
            "conversation state (cft:conv:CH…)": client.memory_usage(store.key(sample)) or 0,
            "task → chat index, 2 tasks (cft:task:WT…)": (client.memory_usage(store.task_key(task_a)) or 0)
            + (client.memory_usage(store.task_key(task_b)) or 0),
            "active set entry (cft:active, per chat)": round(
                (client.memory_usage(store.active_key) or 0) / chats
            ),
            "transfer record (cft:transfer:…)": client.memory_usage(transfers.key(f"{0:032x}")) or 0,
        }
        result.bytes_per_chat_keys = usage
        raw = client.get(store.key(sample)) or b"{}"
        result.state_json_bytes = len(raw)
        client.set("cft:seen:taskrouter:EV" + "0" * 32, "queued", ex=86400)
        result.dedupe_key_bytes = client.memory_usage("cft:seen:taskrouter:EV" + "0" * 32) or 0
        say(
            f"scale: {chats} chats written in {result.write_seconds:.1f} s; "
            f"{result.bytes_per_chat_info:.0f} B/chat (INFO), {sum(usage.values())} B/chat (MEMORY USAGE)"
        )

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            twilio_account_sid=sb.account_sid,
            twilio_auth_token=sb.auth_token,
            twilio_flex_workspace_sid=setup.workspace_sid,
            twilio_flex_chat_transfer_workflow_sid=setup.chat_transfer_workflow_sid,
            redis_url=server.url,
            twilio_api_base_url=sb.base_url,
            log_level="WARNING",
        )
        deps = build_deps(settings)
        twilio_seconds = [0.0]
        deps.gateway.http.observer = lambda _m, _p, _s, elapsed: twilio_seconds.__setitem__(
            0, twilio_seconds[0] + elapsed
        )
        report = reconcile(deps)  # the default budget (max_calls=200), as beat runs it
        scale = chats / 10_000 if chats else 1.0
        result.reconciled_chats = report.chats_seen
        result.full_pass_extrapolated = chats != 10_000
        result.full_pass = {
            "max_calls": 200,
            "seconds_10k": report.seconds / scale,
            "measured_seconds": report.seconds,
            "chats_seen": report.chats_seen,
            "twilio_calls_10k": report.twilio_calls / scale,
            "measured_twilio_calls": report.twilio_calls,
            "tasks_checked": report.tasks_checked,
            "tasks_repaired": report.tasks_repaired,
            "errors": len(report.errors),
        }
        result.twilio_seconds_in_full_pass = twilio_seconds[0]
        say(
            f"scale: one reconciliation pass over {report.chats_seen} chats: {report.twilio_calls} Twilio "
            f"calls, {report.seconds:.1f} s (of which Twilio calls {twilio_seconds[0]:.1f} s)"
        )
        client.close()
    return result
