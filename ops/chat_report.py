"""`chat-transfer inspect CH…`: a chat as the service tracks it, printed for an operator."""

from __future__ import annotations

import json
from typing import Any

from worker.adapters.conversation_store import ConversationStore
from worker.domain.chat_view import describe_chat


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
