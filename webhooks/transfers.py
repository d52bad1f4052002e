"""`POST /transfers`, `GET /transfers/<id>` (the Flex UI) and `POST /studio/track-task` (Studio)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from webhooks.routes import json_error, reject, signature_check
from webhooks.validation import check_sid
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.flex_tokens import FlexTokenValidator
from worker.adapters.http_client import TwilioTransient
from worker.adapters.task_queue import RUN_TRANSFER, TRACK_TASK, TaskQueue
from worker.adapters.transfer_store import TransferStore
from worker.adapters.twilio_gateway import NotFound, TwilioGateway, TwilioRejected
from worker.domain.errors import InvalidInput, ServiceUnavailable
from worker.domain.transfer import TransferRecord, parse_transfer_request

bp = Blueprint("transfers", __name__)


def _ext(name: str) -> Any:
    return current_app.extensions[f"chat_transfer.{name}"]


def _body() -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("body", "body must be a JSON object")
        return body
    return request.form.to_dict(flat=True)


def _worker_on_task(task_sid: str) -> str | None:
    """Who holds the task: what we track, else TaskRouter's accepted reservation."""
    store: ConversationStore = _ext("store")
    conversation_sid = store.conversation_of_task(task_sid)
    state = store.load(conversation_sid) if conversation_sid else None
    if state is not None:
        member = next((m for m in state.members if m.task_sid == task_sid and m.state == "joined"), None)
        if member is not None:
            return member.worker_sid
    gateway: TwilioGateway = _ext("gateway")
    return gateway.accepted_worker_of(task_sid)


@bp.post("/transfers")
def create_transfer() -> Response:
    try:
        transfer = parse_transfer_request(_body())
    except InvalidInput as error:
        return reject("transfers", 400, "invalid", error.message, error.field)
    validator: FlexTokenValidator = _ext("tokens")
    try:
        identity = validator.validate(transfer.token)
        if identity is None:
            return reject("transfers", 403, "token", "the Flex token is not valid")
        holder = None if identity.is_supervisor else _worker_on_task(transfer.task_sid)
    except NotFound:
        return reject("transfers", 404, "unknown_task", f"unknown task {transfer.task_sid}", "taskSid")
    except (ServiceUnavailable, TwilioTransient):
        return reject("transfers", 503, "unavailable", "Twilio could not be reached; retry")
    except TwilioRejected as error:
        return reject("transfers", 502, "twilio", f"Twilio refused the check: {error}")
    if not identity.is_supervisor and (holder is None or holder != identity.worker_sid):
        return reject(
            "transfers", 403, "not_on_task", "only the agent on the task, or a supervisor, can transfer it"
        )

    record = TransferRecord(
        id=uuid.uuid4().hex,
        task_sid=transfer.task_sid,
        target_sid=transfer.target_sid,
        mode=transfer.mode,
        requested_by=identity.worker_sid or identity.identity or "supervisor",
        created_at=time.time(),
        priority=transfer.priority,
        timeout=transfer.timeout,
        workflow_sid=transfer.workflow_sid,
    )
    store: TransferStore = _ext("transfers")
    queue: TaskQueue = _ext("queue")
    try:
        store.create(record)
        queue.enqueue(RUN_TRANSFER, {"transferId": record.id})
    except ServiceUnavailable:
        return reject("transfers", 503, "unavailable", "temporarily unable to queue the transfer; retry")
    except Exception as error:  # redis errors from the store
        current_app.logger.warning("transfer not queued: %s", error)
        return reject("transfers", 503, "unavailable", "temporarily unable to queue the transfer; retry")
    response = jsonify({"transferId": record.id, "status": record.status})
    response.status_code = 202
    response.headers["Location"] = f"/transfers/{record.id}"
    return response


@bp.get("/transfers/<transfer_id>")
def get_transfer(transfer_id: str) -> Response:
    if not transfer_id.isalnum() or len(transfer_id) > 64:
        return json_error(400, "malformed transfer id", "transferId")
    try:
        record = _ext("transfers").load(transfer_id)
    except Exception:
        return json_error(503, "temporarily unable to read the transfer; retry")
    if record is None:
        return json_error(404, "unknown transfer", "transferId")
    return jsonify(record.public())


@bp.post("/studio/track-task")
def studio_track_task() -> Response:
    if not signature_check().is_valid(request):
        return reject("studio", 403, "signature", "missing or invalid X-Twilio-Signature")
    form = request.form
    try:
        task_sid = check_sid(form, "taskSid", "WT", required=True)
        conversation_sid = check_sid(form, "conversationSid", "CH") or check_sid(form, "channelSid", "CH")
        if conversation_sid is None:
            raise InvalidInput("conversationSid", "conversationSid (or channelSid) is required")
    except InvalidInput as error:
        return reject("studio", 400, "invalid", error.message, error.field)
    gateway: TwilioGateway = _ext("gateway")
    try:
        gateway.conversation_attributes(conversation_sid)
    except NotFound:
        return reject(
            "studio",
            404,
            "unknown_conversation",
            f"unknown conversation {conversation_sid}",
            "conversationSid",
        )
    except (TwilioTransient, TwilioRejected):
        return reject("studio", 503, "unavailable", "Twilio could not be reached; retry")
    try:
        _ext("queue").enqueue(TRACK_TASK, {"taskSid": task_sid, "conversationSid": conversation_sid})
    except ServiceUnavailable:
        return reject("studio", 503, "unavailable", "temporarily unable to queue; retry")
    return jsonify({"status": "queued", "taskSid": task_sid, "conversationSid": conversation_sid})
