"""`POST /tasks/<taskSid>/leave` (CONTRACT §4): the agent's Leave chat, for the plugin.

The receiver only checks and queues: the agent's Flex token (the worker on the task, or a
supervisor: `webhooks.browser.authorize_task`), that the task is a chat task in flight, then a
`leave` job for a Celery worker, which applies it to the chat in one transition (the domain
decides whether the chat ends, rule 2) and has the outbox tell Twilio (`worker/handlers/leave.py`).
A task the service tracks in a chat with its agent answers without a Twilio call beyond the
(cached) token check; only a task it has not heard of is looked up in TaskRouter.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webhooks.browser import (
    Conflict,
    Missing,
    authenticate,
    authorize_task,
    browser_endpoint,
    ext,
    flex_token,
    request_body,
)
from webhooks.validation import is_sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.task_queue import LEAVE_CHAT, TaskQueue
from worker.adapters.twilio_gateway import NotFound, TwilioGateway
from worker.domain.errors import InvalidInput
from worker.domain.events import conversation_sid_in
from worker.domain.model import CLOSED, CloseReason

bp = Blueprint("leave", __name__)
# A task closed for the chat, in TaskRouter's words (the 409's `status`); a reason this version
# does not know (a state written by a newer one) reads "closed".
ASSIGNMENT_STATUS: dict[str, str] = {
    CloseReason.WRAPUP: "wrapping",
    CloseReason.COMPLETED: "completed",
    CloseReason.CANCELED: "canceled",
    CloseReason.TIMED_OUT: "canceled",
    CloseReason.DELETED: "deleted",
    CloseReason.CHAT_ALREADY_ENDED: "canceled",
}


def _not_in_flight(status: str) -> Conflict:
    return Conflict(f"the task is {status}, not in flight", status=status)


def _chat_in_flight(task_sid: str) -> str:
    """The chat of a task in flight; `Missing` for a task TaskRouter does not know, `Conflict` for
    one not in flight. A task the service is already taking out of its chat counts as in flight:
    the same leave again is answered as the first was."""
    store: ConversationStore = ext("store")
    conversation_sid = store.conversation_of_task(task_sid)
    state = store.load(conversation_sid) if conversation_sid else None
    task = state.tasks.get(task_sid) if state else None
    if state is not None and task is not None:
        if task.status == CLOSED and task.reason != CloseReason.LEFT:
            raise _not_in_flight(ASSIGNMENT_STATUS.get(task.reason or CloseReason.COMPLETED, "closed"))
        if task.assigned:
            return state.sid
    gateway: TwilioGateway = ext("gateway")
    try:
        snapshot = gateway.fetch_task(task_sid)
    except NotFound:
        raise Missing(f"unknown task {task_sid}", "taskSid") from None
    conversation_sid = conversation_sid or conversation_sid_in(snapshot.attributes)
    if conversation_sid is None:
        raise Conflict(
            "the task names no conversation: it is not a chat", "taskSid", status=snapshot.assignment_status
        )
    if snapshot.assignment_status != "assigned":
        raise _not_in_flight(snapshot.assignment_status)
    return conversation_sid


@bp.post("/tasks/<task_sid>/leave")
@browser_endpoint("leave")
def leave_chat(task_sid: str) -> Response:
    if not is_sid(task_sid, "WT"):
        raise InvalidInput("taskSid", "taskSid must be a WT sid")
    identity = authenticate(flex_token(request_body()))
    conversation_sid = _chat_in_flight(task_sid)
    holder = authorize_task(identity, task_sid, "take it out of the chat")
    payload = {"taskSid": task_sid, "conversationSid": conversation_sid}
    if holder is not None:
        payload["workerSid"] = holder
    queue: TaskQueue = ext("queue")
    queue.enqueue(LEAVE_CHAT, payload)
    response = jsonify({"taskSid": task_sid, "conversationSid": conversation_sid, "status": "leaving"})
    response.status_code = 202
    return response
