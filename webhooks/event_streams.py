"""`POST /webhooks/event-streams`: an Event Streams webhook sink.

Event Streams posts a JSON array of CloudEvents and retries a batch not answered 2xx within 5 s,
for up to four hours, so every event arrives at least once and may arrive again, in any order
(https://www.twilio.com/docs/events/webhook-quickstart, "the maximum timeout for a webhook Sink
response is 5 seconds"; https://www.twilio.com/docs/events/event-delivery-and-duplication). The
request is checked as Twilio documents:

* basic auth, when the sink URL carries credentials: "Event Streams adds the Authorization header
  to every request" (the Webhook Quickstart, "Authenticate your webhook sink"). Set
  EVENT_STREAMS_BASIC_AUTH=user:password to require it; a missing or wrong one is answered 401.
* `X-Twilio-Signature`: Event Streams signs as Twilio signs a JSON body: the SHA-256 of the body
  (hex) is appended to the sink URL as the `bodySHA256` query parameter, and the signature is the
  HMAC-SHA1 of that URL with no parameters ("Validating Signatures from Twilio",
  https://www.twilio.com/docs/usage/webhooks/webhooks-security, and the Webhook Quickstart's
  validation examples: "How to Validate Twilio Event Streams Webhooks" in Go, PHP, Java, Rust).
  The official library's `RequestValidator.validate(url, body, signature)` checks both. Twilio
  drops credentials from the URL before signing, so the URL checked is PUBLIC_BASE_URL + path.

Then the batch is accepted whole or not at all: every event is checked (400 naming the field,
nothing queued), each handled event is queued once per key in one Redis round trip (503 when
they cannot all be queued: Event Streams retries the batch, and what was queued is then a
duplicate), and events of types the service does not handle are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request

from webhooks.intake import Outcome
from webhooks.metrics import DUPLICATES, REQUESTS
from webhooks.routes import intake, reject, signature_check
from worker.adapters.task_queue import CLOUDEVENT
from worker.domain.cloudevents import parse_batch
from worker.domain.errors import InvalidInput, ServiceUnavailable

ENDPOINT = "event-streams"
TEST_EVENT = "com.twilio.eventstreams.test-event"  # Sinks/{Sid}/Test; its test_id validates the sink
bp = Blueprint("event_streams", __name__)
log = logging.getLogger("chat_transfer.web")


def basic_auth_ok(header: str | None, expected: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected.encode())


def queued_payload(raw: dict[str, object], received_at: float) -> dict[str, object]:
    return {"cloudevent": raw, "received_at": received_at}


@bp.post("/webhooks/event-streams")
def event_streams_sink() -> Response:
    settings = current_app.extensions["chat_transfer.settings"]
    limit = settings.event_streams_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return reject(ENDPOINT, 400, "too_large", f"body is larger than {limit} bytes", "body")
    credentials = settings.event_streams_basic_auth
    if credentials is not None and not basic_auth_ok(
        request.headers.get("Authorization"), credentials.get_secret_value()
    ):
        response = reject(ENDPOINT, 401, "basic_auth", "missing or wrong basic-auth credentials")
        response.headers["WWW-Authenticate"] = 'Basic realm="event-streams"'
        return response
    if request.mimetype != "application/json" or not signature_check().is_valid(request):
        return reject(ENDPOINT, 403, "signature", "missing or invalid X-Twilio-Signature")
    try:
        body = json.loads(request.get_data(as_text=True))
    except (ValueError, RecursionError):  # nested too deep for the decoder is not JSON we take
        return reject(ENDPOINT, 400, "invalid", "body is not JSON", "body")
    try:
        events = parse_batch(body)
    except InvalidInput as error:
        return reject(ENDPOINT, 400, "invalid", error.message, error.field)
    raws = body if isinstance(body, list) else [body]
    for event in events:
        if event.type == TEST_EVENT and isinstance(event.data, dict):
            log.info("Event Streams test event", extra={"test_id": event.data.get("test_id")})
    received_at = time.time()
    handled = [(e, raw) for e, raw in zip(events, raws, strict=True) if e.handled is not None]
    items = [(CLOUDEVENT, e.dedupe_key, queued_payload(raw, received_at)) for e, raw in handled]
    try:
        outcomes = intake().accept_batch(items)
    except ServiceUnavailable as error:
        current_app.logger.warning("batch not queued: %s", error)
        return reject(ENDPOINT, 503, "unavailable", "temporarily unable to queue the batch; retry")
    duplicates = outcomes.count(Outcome.DUPLICATE)
    if duplicates:
        DUPLICATES.labels(ENDPOINT).inc(duplicates)
    REQUESTS.labels(ENDPOINT, "200").inc()
    return jsonify(
        {
            "queued": outcomes.count(Outcome.QUEUED),
            "duplicates": duplicates,
            "ignored": len(events) - len(handled),  # types the service does not act on
        }
    )
