"""What every TaskRouter REST handler needs: the TaskRouter, the workspace of the path."""

from __future__ import annotations

from ...errors import bad_request
from ...rest import Req
from ..engine import TaskRouter
from ..model import FINAL, Workspace

WS = "/v1/Workspaces/{WorkspaceSid}"


def refuse_if_in_use(ws: Workspace, field_name: str, sid: str, what: str) -> None:
    if any(getattr(t, field_name) == sid and t.assignment_status not in FINAL for t in ws.tasks.values()):
        raise bad_request(f"Cannot delete a {what} with active Tasks")


def taskrouter_of(req: Req) -> TaskRouter:
    return req.core.product(TaskRouter)


def workspace_of(req: Req, key: str = "WorkspaceSid") -> Workspace:
    return taskrouter_of(req).ws(req[key])
