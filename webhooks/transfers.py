"""`POST /transfers`, `GET /transfers/<id>` (the Flex UI) and `POST /studio/track-task` (Studio)."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, Response, jsonify, request

from webhooks.browser import (
    Conflict,
    Missing,
    authenticate,
    browser_endpoint,
    ext,
    request_body,
    worker_on_task,
)
from webhooks.routes import reject, signature_check
from webhooks.validation import check_sid
from worker.adapters.http_client import TwilioTransient
from worker.adapters.task_queue import RUN_TRANSFER, TRACK_TASK
from worker.adapters.transfer_store import Opened, TransferStore
from worker.adapters.twilio_gateway import NotFound, TwilioGateway, TwilioRejected
from worker.domain.errors import InvalidInput, ServiceUnavailable
from worker.domain.transfer import TransferRecord, TransferStatus, parse_transfer_request
from worker.domain.transfer_policy import Requester, TransferPolicy
from worker.settings import Settings

bp = Blueprint("transfers", __name__)


IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )
    return key


def _policy() -> TransferPolicy:
    settings: Settings = ext("settings")
    return TransferPolicy(
        timeout_seconds=settings.transfer_timeout_seconds,
        priority_max=settings.transfer_priority_max,
        workflow_sids=settings.allowed_workflow_sids,
    )


def _accepted(transfer_id: str) -> Response:
    response = jsonify({"transferId": transfer_id, "status": TransferStatus.PENDING})
    response.status_code = 202
    response.headers["Location"] = f"/transfers/{transfer_id}"
    return response


@bp.post("/transfers")
@browser_endpoint("transfers")
def create_transfer() -> Response:
    """One transfer being set up per task (rule 10): a second request is answered 409 with the
    pending transfer, or, with the same `Idempotency-Key` as an earlier one, that one's 202."""
    body = request_body()
    transfer = parse_transfer_request(body)
    key = _idempotency_key()
    identity = authenticate(transfer.token)
    holder: str | None = None
    if not identity.is_supervisor or transfer.target_type == "worker":
        try:
            holder = worker_on_task(transfer.task_sid)
        except NotFound:
            raise Missing(f"unknown task {transfer.task_sid}", "taskSid") from None
    requester = Requester(identity.worker_sid, identity.is_supervisor)
    timeout = _policy().admit(transfer, requester, holder)

    record = TransferRecord(
        id=uuid.uuid4().hex,
        task_sid=transfer.task_sid,
        target_sid=transfer.target_sid,
        mode=transfer.mode,
        requested_by=identity.worker_sid or identity.identity or "supervisor",
        created_at=time.time(),
        priority=transfer.priority,
        timeout=timeout,
        workflow_sid=transfer.workflow_sid,
    )
    store: TransferStore = ext("transfers")
    opened = store.open(record, key)
    if opened.outcome is Opened.SAME:
        return _accepted(opened.transfer_id)
    if opened.outcome is Opened.PENDING:
        raise Conflict(
            "another transfer of this task is being set up", "taskSid", transferId=opened.transfer_id
        )
    if opened.outcome is Opened.KEY_REUSED:
        raise Conflict(
            "this Idempotency-Key was sent with another request", "Idempotency-Key",
            transferId=opened.transfer_id,
        )  # fmt: skip
    try:
        ext("queue").enqueue(RUN_TRANSFER, {"transferId": record.id})
    except Exception as error:
        store.withdraw(record, key)
        raise ServiceUnavailable(f"transfer not queued: {error}") from error
    return _accepted(record.id)


@bp.get("/transfers/<transfer_id>")
@browser_endpoint("transfer_status")
def get_transfer(transfer_id: str) -> Response:
    if not transfer_id.isalnum() or len(transfer_id) > 64:
        raise InvalidInput("transferId", "malformed transfer id")
    record = ext("transfers").load(transfer_id)
    if record is None:
        raise Missing("unknown transfer", "transferId")
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
    gateway: TwilioGateway = ext("gateway")
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
        ext("queue").enqueue(TRACK_TASK, {"taskSid": task_sid, "conversationSid": conversation_sid})
    except ServiceUnavailable:
        return reject("studio", 503, "unavailable", "temporarily unable to queue; retry")
    return jsonify({"status": "queued", "taskSid": task_sid, "conversationSid": conversation_sid})
