"""Operator views: `chat-transfer inspect CH…` and `chat-transfer dead-letters list|retry|drop`."""

from __future__ import annotations

import json
from typing import Any

import redis

from worker.adapters.conversation_store import ConversationStore
from worker.domain.model import ConversationState

DEAD_LETTERS_KEY = "cft:dead-letters"


def describe_chat(state: ConversationState | None, conversation_sid: str) -> dict[str, Any]:
    """What the service tracks for a chat, in the words an operator needs when it looks stuck."""
    if state is None:
        return {
            "conversationSid": conversation_sid,
            "tracked": False,
            "why": "no task was ever tracked on it",
        }
    if state.ended == "ended":
        verdict = f"ended ({state.end_reason})"
    elif state.ended == "ending":
        verdict = "ending: waiting for TaskRouter's confirmation that nothing is in flight"
    elif state.inflight():
        verdict = f"open: {len(state.inflight())} task(s) in flight"
    elif state.open_holds():
        verdict = "open: a transfer or requeue is being set up"
    else:
        verdict = "open: no task tracked yet"
    return {
        "conversationSid": state.sid,
        "tracked": True,
        "state": verdict,
        "tasks": {
            sid: {
                "status": t.status,
                "reason": t.reason,
                "assigned": t.assigned,
                **({"transfer": t.transfer.transfer_id, "mode": t.transfer.mode} if t.transfer else {}),
            }
            for sid, t in state.tasks.items()
        },
        "transfersBeingSetUp": state.open_holds(),
        "holds": {
            hid: {"kind": h.kind, "state": h.state, "taskSid": h.task_sid} for hid, h in state.holds.items()
        },
        "agentsInChat": [
            {"name": m.name, "workerSid": m.worker_sid, "taskSid": m.task_sid} for m in state.agents_in_chat()
        ],
        "agents": [
            {"name": m.name, "workerSid": m.worker_sid, "taskSid": m.task_sid, "state": m.state}
            for m in state.members
        ],
        "noticesQueued": state.notices,
        "pendingWork": [{"id": i.id, "kind": i.kind, "attempts": i.attempts} for i in state.outbox],
        "customerLeft": state.customer_left,
        "failures": state.failures,
        "interaction": state.interaction,
    }


def render_chat(view: dict[str, Any]) -> str:
    if not view.get("tracked"):
        return f"{view['conversationSid']}: not tracked ({view['why']})"
    lines = [f"{view['conversationSid']}: {view['state']}"]
    lines.append("  tasks:")
    for sid, task in view["tasks"].items():
        extra = f" transfer {task['transfer']} ({task['mode']})" if "transfer" in task else ""
        reason = f" ({task['reason']})" if task["reason"] else ""
        lines.append(f"    {sid}  {task['status']}{reason}{' assigned' if task['assigned'] else ''}{extra}")
    lines.append(f"  transfers being set up: {', '.join(view['transfersBeingSetUp']) or 'none'}")
    names = ", ".join(f"{a['name']} ({a['workerSid']})" for a in view["agentsInChat"])
    lines.append(f"  agents in the chat: {names or 'none'}")
    lines.append(f"  notices: {', '.join(view['noticesQueued']) or 'none'}")
    if view["pendingWork"]:
        lines.append(
            "  pending work: " + ", ".join(f"{w['id']} (tries {w['attempts']})" for w in view["pendingWork"])
        )
    if view["customerLeft"]:
        lines.append("  the customer left the chat")
    for failure in view["failures"]:
        lines.append(f"  failure: {json.dumps(failure)}")
    return "\n".join(lines)


def inspect_chat(store: ConversationStore, conversation_sid: str) -> dict[str, Any]:
    return describe_chat(store.load(conversation_sid), conversation_sid)


class DeadLetters:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def list(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(DEAD_LETTERS_KEY, 0, -1)]

    def take(self, index: int) -> dict[str, Any] | None:
        """Remove and return entry `index` (as listed), atomically with respect to other takers."""
        raw = self.redis.lindex(DEAD_LETTERS_KEY, index)
        if raw is None:
            return None
        removed = self.redis.lrem(DEAD_LETTERS_KEY, 1, raw)
        return json.loads(raw) if removed else None

    def add(self, entry: dict[str, Any]) -> None:
        self.redis.rpush(DEAD_LETTERS_KEY, json.dumps(entry))
