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
    elif state.kept_open:
        verdict = f"open: Flex keeps it open ({state.kept_open}); its next task resumes it"
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
        "pendingWork": [
            {
                "id": i.id,
                "kind": i.kind,
                "attempts": i.attempts,
                "lastError": i.error,
                "notBefore": i.not_before,
            }
            for i in state.outbox
        ],
        "customerLeft": state.customer_left,
        "closedBy": closed_by(state),
        "keptOpen": state.kept_open,
        "failures": state.failures,
        "interaction": state.interaction,
    }


def closed_by(state: ConversationState) -> str | None:
    """Who closed the chat when the service did not: "customer", "agent" or "other" (someone else,
    or nobody said); None when the service ended it or it is open (`ConversationState.closer`)."""
    return state.closed_by


def may_read(state: ConversationState, worker_sid: str | None, *, is_supervisor: bool) -> bool:
    """`GET /chats/<CH>` is for a supervisor, or a worker who is or was offered to be in the chat."""
    return is_supervisor or any(m.worker_sid == worker_sid for m in state.members if worker_sid)


def chat_for_agents(state: ConversationState) -> dict[str, Any]:
    """`GET /chats/<CH>` (CONTRACT §4): what the agents' Flex plugin shows of a tracked chat."""
    ended = state.ended == "ended" or state.customer_left
    return {
        "conversationSid": state.sid,
        "tracked": True,
        "ended": ended,
        "endReason": state.end_reason if state.ended == "ended" else None,
        "closedBy": closed_by(state),
        "customerLeft": state.customer_left,
        "tasks": [
            {
                "taskSid": sid,
                "status": task.status,
                "reason": task.reason,
                "assigned": task.assigned,
                "transferId": task.transfer.transfer_id if task.transfer else None,
                "transferMode": task.transfer.mode if task.transfer else None,
            }
            for sid, task in state.tasks.items()
        ],
        "agents": [
            {"name": m.name, "workerSid": m.worker_sid, "taskSid": m.task_sid} for m in state.agents_in_chat()
        ],
        "transfers": [
            {"id": hold_id, "kind": state.holds[hold_id].kind, "openedAt": state.holds[hold_id].opened_at}
            for hold_id in state.open_holds()
        ],
    }
