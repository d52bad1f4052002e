"""Which transfer requests make sense, and who may set what (issue 12, defect 7): pure rules.

- Only the agent on the task, or a supervisor, may transfer it (403).
- A transfer to the worker already on the task is refused (400, `targetSid`).
- The transfer task waits at most `TRANSFER_TIMEOUT_SECONDS` for someone to take it, so a cold
  transfer to an offline agent or an empty queue does not leave the customer alone for
  TaskRouter's default day; the request's `timeout` may shorten that, never lengthen it (400).
- `priority` and `workflowSid` are routing decisions: a supervisor may set any; an agent only a
  priority up to `TRANSFER_PRIORITY_MAX` and a workflow in `TRANSFER_WORKFLOW_SIDS` (or the
  configured transfer workflow itself), else 403 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.domain.errors import Forbidden, InvalidInput
from worker.domain.transfer import TransferRequested


@dataclass(frozen=True)
class Requester:
    """Who asks, as the Flex token says."""

    worker_sid: str | None
    is_supervisor: bool

    def require_on_task(self, holder: str | None, doing: str) -> None:
        """The one rule of every task action from the Flex UI: the agent on the task (`holder`; None
        when nobody is known to hold it) or a supervisor; else Forbidden, naming what was asked."""
        if not self.is_supervisor and (holder is None or holder != self.worker_sid):
            raise Forbidden(f"only the agent on the task, or a supervisor, may {doing}", reason="not_on_task")


@dataclass(frozen=True)
class TransferPolicy:
    timeout_seconds: int = 120
    priority_max: int = 0
    workflow_sids: frozenset[str] = frozenset()

    def admit(self, request: TransferRequested, requester: Requester, holder: str | None) -> int:
        """Raise Forbidden or InvalidInput for a request that may not go ahead; otherwise the
        transfer task's timeout. `holder` is the worker on the task (None: nobody known)."""
        requester.require_on_task(holder, "transfer it")
        if request.target_sid == (holder or requester.worker_sid):
            raise InvalidInput("targetSid", "the target is the worker already on the task")
        if request.timeout is not None and request.timeout > self.timeout_seconds:
            raise InvalidInput(
                "timeout", f"timeout may be at most {self.timeout_seconds} s (TRANSFER_TIMEOUT_SECONDS)"
            )
        if not requester.is_supervisor:
            if request.priority is not None and request.priority > self.priority_max:
                raise Forbidden(
                    f"only a supervisor may ask for a priority above {self.priority_max}", "priority"
                )
            if request.workflow_sid is not None and request.workflow_sid not in self.workflow_sids:
                raise Forbidden("only a supervisor may choose this workflow", "workflowSid")
        return request.timeout or self.timeout_seconds
