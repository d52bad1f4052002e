"""A transfer request, its record, and the attributes of the task it creates (CONTRACT §5)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from worker.domain.compact import without_defaults
from worker.domain.errors import InvalidInput

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
MODES = ("WARM", "COLD")


class TransferStatus:
    PENDING = "pending"  # accepted, being set up
    CREATED = "created"  # the transfer task exists and was announced
    FAILED = "failed"  # gave up, with a reason; nothing half-done is left behind


@dataclass(frozen=True)
class TransferRequested:
    task_sid: str
    target_sid: str
    mode: str
    token: str
    priority: int | None = None
    timeout: int | None = None
    workflow_sid: str | None = None

    @property
    def target_type(self) -> str:
        return "worker" if self.target_sid.startswith("WK") else "queue"


def _sid_field(
    body: dict[str, Any], name: str, prefixes: tuple[str, ...], required: bool = True
) -> str | None:
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise InvalidInput(name, f"{name} is required")
        return None
    if not isinstance(value, str) or not _SID.match(value) or not value.startswith(prefixes):
        raise InvalidInput(name, f"{name} must be a {' or '.join(prefixes)} sid")
    return value


def _int_field(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"{name} must be a whole number") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise InvalidInput(name, f"{name} must be between {low} and {high}")
    return number


def parse_transfer_request(body: dict[str, Any]) -> TransferRequested:
    """Validate the body of POST /transfers (JSON or form); the first bad field is named."""
    task_sid = _sid_field(body, "taskSid", ("WT",))
    target_sid = _sid_field(body, "targetSid", ("WK", "WQ"))
    mode = body.get("mode")
    if not isinstance(mode, str) or mode.upper() not in MODES:
        raise InvalidInput("mode", "mode must be WARM or COLD")
    token = body.get("Token") or body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput("Token", "Token (the agent's Flex token) is required")
    return TransferRequested(
        task_sid=task_sid or "",
        target_sid=target_sid or "",
        mode=mode.upper(),
        token=token,
        priority=_int_field(body, "priority", 0, 2**31 - 1),
        timeout=_int_field(body, "timeout", 1, 365 * 24 * 3600),
        workflow_sid=_sid_field(body, "workflowSid", ("WW",), required=False),
    )


@dataclass
class TransferRecord:
    id: str
    task_sid: str
    target_sid: str
    mode: str
    requested_by: str
    created_at: float
    priority: int | None = None
    timeout: int | None = None
    workflow_sid: str | None = None
    status: str = TransferStatus.PENDING
    reason: str | None = None
    conversation_sid: str | None = None
    strategy: str | None = None
    target_name: str | None = None
    transfer_task_sid: str | None = None
    steps: list[str] = field(default_factory=list)
    attempts: int = 0

    @property
    def target_type(self) -> str:
        return "worker" if self.target_sid.startswith("WK") else "queue"

    @property
    def settled(self) -> bool:
        """Created or failed: the orchestration will not run again, only GET /transfers reads it."""
        return self.status != TransferStatus.PENDING

    @property
    def task_recorded(self) -> bool:
        """The transfer task exists: its `create` step was written, or its invite was sent."""
        return bool(self.transfer_task_sid) or "create" in self.steps or "invite" in self.steps

    @property
    def task_possible(self) -> bool:
        """A run may have created the transfer task without recording it: only a run that wrote
        `hold` goes on to create one."""
        return "hold" in self.steps

    def public(self) -> dict[str, Any]:
        """What GET /transfers/<id> answers."""
        return {name: getattr(self, attribute) for name, attribute in PUBLIC_FIELDS.items()}

    def to_json(self) -> str:
        """The stored form: fields equal to their defaults are left out and, once the transfer has
        settled, so is everything only the orchestration reads (who asked and when, the routing
        options, the target's name, the steps done, the attempts): what is left is `public()`."""
        data: dict[str, Any] = without_defaults(self)
        if self.settled:
            data = {name: value for name, value in data.items() if name in PUBLIC_FIELDS.values()}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TransferRecord:
        """Reads every stored form: the older one naming every field, and the compact one (a
        settled record's requester and creation time read back empty)."""
        return cls(**{"requested_by": "", "created_at": 0.0, **json.loads(text)})


def gave_up_reason(attempts: int, error: BaseException) -> str:
    """Why a transfer whose job gave up (a dead letter) failed, as the Flex UI shows it."""
    return f"gave up after {attempts} attempts: {type(error).__name__}"


# GET /transfers/<id>'s names for the record's fields, all a settled record keeps.
PUBLIC_FIELDS = {
    "transferId": "id",
    "status": "status",
    "taskSid": "task_sid",
    "targetSid": "target_sid",
    "mode": "mode",
    "transferTaskSid": "transfer_task_sid",
    "conversationSid": "conversation_sid",
    "strategy": "strategy",
    "reason": "reason",
}


def transfer_task_attributes(
    original: dict[str, Any],
    *,
    original_task_sid: str,
    record: TransferRecord,
    target_name: str,
    transferring_contact_uri: str | None,
    workers_in_chat: list[str],
) -> dict[str, Any]:
    """Every attribute of the original task, plus what routing and reporting need (CONTRACT §5)."""
    attributes = {k: v for k, v in original.items() if k != "chatTransferData"}
    conversations = dict(attributes.get("conversations") or {})
    conversations.setdefault("conversation_id", original_task_sid)
    attributes.update(
        {
            "transferTargetSid": record.target_sid,
            "transferTargetType": record.target_type,
            "transferQueueName": target_name if record.target_type == "queue" else "",
            "ignoreWorkerContactUri": transferring_contact_uri or "",
            "workerSidsInConversation": workers_in_chat,
            "conversations": conversations,
            "transferredFromTaskSid": original_task_sid,
            "transferType": record.mode,
        }
    )
    return attributes
