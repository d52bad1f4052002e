"""The receiver's endpoints for Twilio: parse, check, enqueue, map to a status code."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from webhooks.intake import EventIntake, Outcome, body_digest
from webhooks.metrics import DUPLICATES, REJECTIONS, REQUESTS, render
from webhooks.signature import SignatureCheck
from webhooks.validation import check_conversations_event, check_taskrouter_event
from worker.adapters.task_queue import CONVERSATIONS_EVENT, TASKROUTER_EVENT
from worker.domain.errors import InvalidInput, ServiceUnavailable

bp = Blueprint("intake", __name__)
OPENAPI_TEXT = (Path(__file__).with_name("openapi.json")).read_text()


def intake() -> EventIntake:
    return current_app.extensions["chat_transfer.intake"]


def signature_check() -> SignatureCheck:
    return current_app.extensions["chat_transfer.signature"]


def json_error(code: int, error: str, field: str | None = None, /, **extra: object) -> Response:
    """`{"error", "field"?, **extra}` with the HTTP status `code` (positional, so that `extra` may
    carry a `status` of its own, as 409 for a task not in flight does)."""
    body: dict[str, object] = {"error": error, **extra}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = code
    return response


def reject(
    endpoint: str, code: int, reason: str, error: str, field: str | None = None, /, **extra: object
) -> Response:
    REJECTIONS.labels(endpoint, reason).inc()
    REQUESTS.labels(endpoint, str(code)).inc()
    return json_error(code, error, field, **extra)


def receive_signed_event(
    endpoint: str,
    task_name: str,
    check: Callable[[Mapping[str, str]], None],
    event_id_of: Callable[[Mapping[str, str]], str | None],
) -> Response:
    """The one path every Twilio event takes: size → signature → fields → dedupe → queue."""
    limit = current_app.config["MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return reject(endpoint, 400, "too_large", f"body is larger than {limit} bytes", "body")
    if not signature_check().is_valid(request):
        return reject(endpoint, 403, "signature", "missing or invalid X-Twilio-Signature")
    form = request.form
    try:
        check(form)
    except InvalidInput as error:
        return reject(endpoint, 400, "invalid", error.message, error.field)
    fields = form.to_dict(flat=True)
    event_id = event_id_of(form) or body_digest(signature_check().signed_url(request), fields)
    payload = {"fields": fields, "received_at": time.time()}
    try:
        outcome = intake().accept(task_name, f"{endpoint}:{event_id}", payload)
    except ServiceUnavailable as error:
        current_app.logger.warning("event not queued: %s", error)
        return reject(endpoint, 503, "unavailable", "temporarily unable to queue the event; retry")
    if outcome is Outcome.DUPLICATE:
        DUPLICATES.labels(endpoint).inc()
    REQUESTS.labels(endpoint, "204").inc()
    return Response(status=204)


@bp.post("/webhooks/taskrouter")
def taskrouter_event() -> Response:
    return receive_signed_event(
        "taskrouter", TASKROUTER_EVENT, check_taskrouter_event, lambda f: f.get("Sid")
    )


@bp.post("/webhooks/conversations")
def conversations_event() -> Response:
    return receive_signed_event(
        "conversations",
        CONVERSATIONS_EVENT,
        check_conversations_event,
        lambda _f: request.headers.get("I-Twilio-Idempotency-Token") or None,
    )


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    try:
        intake().check_ready()
    except ServiceUnavailable as error:
        return json_error(503, str(error), state="unavailable")
    return jsonify({"status": "ready"})


@bp.get("/openapi.json")
def openapi() -> Response:
    return current_app.response_class(OPENAPI_TEXT, mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = render(current_app.extensions["chat_transfer.redis"])
    return Response(body, content_type=content_type)
