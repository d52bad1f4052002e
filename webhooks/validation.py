"""Input checks for Twilio's form posts: a malformed field is named in a 400 answer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from worker.domain.errors import InvalidInput

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")

TASKROUTER_SID_FIELDS = {
    "Sid": "EV",
    "AccountSid": "AC",
    "WorkspaceSid": "WS",
    "TaskSid": "WT",
    "WorkerSid": "WK",
    "ReservationSid": "WR",
    "TaskQueueSid": "WQ",
    "WorkflowSid": "WW",
    "TaskChannelSid": "TC",
    "WorkerActivitySid": "WA",
    "WorkerPreviousActivitySid": "WA",
}
CONVERSATIONS_SID_FIELDS = {
    "AccountSid": "AC",
    "ConversationSid": "CH",
    "ChatServiceSid": "IS",
    "ParticipantSid": "MB",
    "MessageSid": "IM",
    "WebhookSid": "WH",
}
TASKROUTER_JSON_FIELDS = ("TaskAttributes", "WorkerAttributes")
CONVERSATIONS_JSON_FIELDS = ("Attributes",)


def is_sid(value: str, prefix: str) -> bool:
    return value.startswith(prefix) and _SID.match(value) is not None


def check_sid(form: Mapping[str, str], field: str, prefix: str, *, required: bool = False) -> str | None:
    value = form.get(field, "")
    if not value:
        if required:
            raise InvalidInput(field, f"{field} is required")
        return None
    if not is_sid(value, prefix):
        raise InvalidInput(field, f"{field} must be a {prefix} sid")
    return value


def check_json_object(form: Mapping[str, str], field: str) -> None:
    raw = form.get(field)
    if raw is None or raw == "":
        return
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # nested too deep for the decoder: a 500 before
        raise InvalidInput(field, f"{field} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidInput(field, f"{field} must be a JSON object")


def _check_event(
    form: Mapping[str, str], sid_fields: Mapping[str, str], json_fields: tuple[str, ...]
) -> None:
    if not form.get("EventType", "").strip():
        raise InvalidInput("EventType", "EventType is required")
    for field, prefix in sid_fields.items():
        check_sid(form, field, prefix)
    for field in json_fields:
        check_json_object(form, field)


def check_taskrouter_event(form: Mapping[str, str]) -> None:
    _check_event(form, TASKROUTER_SID_FIELDS, TASKROUTER_JSON_FIELDS)
    resource_sid = form.get("ResourceSid", "")
    if resource_sid and not _SID.match(resource_sid):
        raise InvalidInput("ResourceSid", "ResourceSid must be a sid")


def check_conversations_event(form: Mapping[str, str]) -> None:
    _check_event(form, CONVERSATIONS_SID_FIELDS, CONVERSATIONS_JSON_FIELDS)
