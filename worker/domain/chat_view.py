"""What the service tracks for a chat, as people read it: `chat-transfer inspect` and `GET /chats/<CH>`."""

from __future__ import annotations

from typing import Any

from worker.domain.model import ConversationState


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
