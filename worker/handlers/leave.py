"""Taking an agent out of a chat as Flex's Leave does (an outbox item: `POST /tasks/<WT>/leave`).

The domain already closed the task for the chat and decided whether the chat ends (rule 2); this
is what Twilio is told, each step safe to repeat:
- a Flex Conversations chat: the agent's interaction participant is closed. Its task completes
  and the conversation stays open for the others ("Park an Interaction": "When a closed status is
  passed, the associated task is completed but the channel ... remains active"); it is also what
  the Flex template's "Leave chat" does (conversation-transfer's remove-participant.js). `closed`
  rather than `wrapup`: the agent is then out of the channel's participants too;
- an older chat: the task moves to wrap-up and the agent's conversation participant is removed,
  the two things Flex UI's own leave does (a REST change of the task alone leaves the agent in
  the conversation).
"""

from __future__ import annotations

import logging
from typing import Any

from worker.adapters.twilio_gateway import TwilioRejected
from worker.domain.model import ConversationState
from worker.handlers.deps import Deps

log = logging.getLogger("chat_transfer.leave")

LEAVE_REASON = "the agent left the chat"


def leave(deps: Deps, state: ConversationState, data: dict[str, Any]) -> None:
    task_sid = data["task"]
    if state.interaction:
        if not deps.gateway.close_agent_participant(*state.interaction, task_sid):
            log.info("no interaction participant to close", extra={"task_sid": task_sid})
        return
    try:
        deps.gateway.set_task_status(task_sid, "wrapping", LEAVE_REASON)
    except TwilioRejected as error:
        # Already in wrap-up or beyond (a retry, or the agent was quicker): nothing left to do.
        log.info("task not moved to wrap-up", extra={"task_sid": task_sid, "error": str(error)})
    identity = data.get("identity")
    if identity and not state.customer_left:
        deps.gateway.remove_participant(state.sid, identity)
