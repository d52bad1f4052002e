"""`POST /tasks/<taskSid>/leave` (CONTRACT §4, API-SHAPES): the agent's Leave chat, for the plugin.

The receiver only checks and queues: the agent's Flex token (the worker on the task, or a
supervisor), that the task is a chat task in flight, then a `leave` job for a Celery worker, which
applies it to the chat in one transition (the domain decides whether the chat ends, rule 2) and
has the outbox tell Twilio (`worker/handlers/leave.py`). What the service already tracks answers
without a Twilio call; only a task it has not heard of yet is looked up in TaskRouter.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from webhooks.metrics import REJECTIONS, REQUESTS
from webhooks.routes import reject
from webhooks.validation import is_sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.flex_tokens import FlexTokenValidator
from worker.adapters.http_client import TwilioTransient
from worker.adapters.task_queue import LEAVE_CHAT, TaskQueue
from worker.adapters.twilio_gateway import NotFound, TwilioGateway, TwilioRejected
from worker.domain.errors import ServiceUnavailable
from worker.domain.events import conversation_sid_in
from worker.domain.model import CLOSED, CloseReason

bp = Blueprint("leave", __name__)
ENDPOINT = "leave"
# What a task closed for the chat is in TaskRouter's words (409's `status`).
ASSIGNMENT_STATUS = {
    CloseReason.WRAPUP: "wrapping",
    CloseReason.COMPLETED: "completed",
    CloseReason.CANCELED: "canceled",
    CloseReason.TIMED_OUT: "canceled",
    CloseReason.DELETED: "deleted",
}


class Refused(Exception):
    def __init__(self, code: int, reason: str, error: str, field: str | None = None, **extra: Any):
        super().__init__(error)
        self.code, self.reason, self.error, self.field, self.extra = code, reason, error, field, extra


def _ext(name: str) -> Any:
    return current_app.extensions[f"chat_transfer.{name}"]


def _token() -> str:
    body: Any = request.get_json(silent=True) if request.is_json else request.form.to_dict(flat=True)
    if not isinstance(body, dict):
        raise Refused(400, "invalid", "body must be a JSON object", "body")
    token = body.get("Token") or request.headers.get("X-Flex-Token")
    if not isinstance(token, str) or not token.strip():
        raise Refused(400, "invalid", "Token (the agent's Flex token) is required", "Token")
    return token


def _chat_of(task_sid: str) -> tuple[str, str | None]:
    """The task's chat and the worker on the task (None: nobody we know of).

    Raises `Refused` 404 for a task TaskRouter does not know, 409 for one not in flight."""
    store: ConversationStore = _ext("store")
    conversation_sid = store.conversation_of_task(task_sid)
    state = store.load(conversation_sid) if conversation_sid else None
    task = state.tasks.get(task_sid) if state else None
    if state is not None and task is not None:
        if task.status == CLOSED and task.reason != CloseReason.LEFT:
            status = ASSIGNMENT_STATUS.get(CloseReason(task.reason or "completed"), str(task.reason))
            raise Refused(409, "not_in_flight", f"the task is {status}, not in flight", status=status)
        holder = next((m.worker_sid for m in state.members if m.task_sid == task_sid), None)
        if task.assigned and holder is not None:
            return state.sid, holder
    gateway: TwilioGateway = _ext("gateway")
    try:
        snapshot = gateway.fetch_task(task_sid)
    except NotFound:
        raise Refused(404, "unknown_task", f"unknown task {task_sid}", "taskSid") from None
    conversation_sid = conversation_sid or conversation_sid_in(snapshot.attributes)
    if conversation_sid is None:
        raise Refused(409, "not_a_chat", "the task names no conversation", "taskSid")
    if snapshot.assignment_status != "assigned":
        status = snapshot.assignment_status
        raise Refused(409, "not_in_flight", f"the task is {status}, not in flight", status=status)
    return conversation_sid, gateway.accepted_worker_of(task_sid)


@bp.post("/tasks/<task_sid>/leave")
def leave_chat(task_sid: str) -> Response:
    try:
        if not is_sid(task_sid, "WT"):
            raise Refused(400, "invalid", "taskSid must be a WT sid", "taskSid")
        token = _token()
        validator: FlexTokenValidator = _ext("tokens")
        identity = validator.validate(token)
        if identity is None:
            raise Refused(403, "token", "the Flex token is not valid")
        conversation_sid, holder = _chat_of(task_sid)
        if not identity.is_supervisor and (holder is None or holder != identity.worker_sid):
            raise Refused(403, "not_on_task", "only the agent on the task, or a supervisor, can leave it")
        queue: TaskQueue = _ext("queue")
        queue.enqueue(LEAVE_CHAT, {"taskSid": task_sid, "conversationSid": conversation_sid})
    except Refused as refused:
        REJECTIONS.labels(ENDPOINT, refused.reason).inc()
        REQUESTS.labels(ENDPOINT, str(refused.code)).inc()
        body: dict[str, Any] = {"error": refused.error, **refused.extra}
        if refused.field is not None:
            body["field"] = refused.field
        answer = jsonify(body)
        answer.status_code = refused.code
        return answer
    except (ServiceUnavailable, TwilioTransient, redis.RedisError) as error:
        current_app.logger.warning("leave not queued: %s", error)
        return reject(ENDPOINT, 503, "unavailable", "temporarily unable to check or queue the leave; retry")
    except TwilioRejected as error:
        return reject(ENDPOINT, 502, "twilio", f"Twilio refused the check: {error}")
    REQUESTS.labels(ENDPOINT, "202").inc()
    response = jsonify({"taskSid": task_sid, "conversationSid": conversation_sid, "status": "leaving"})
    response.status_code = 202
    return response
