"""`TaskRouter`: all workspaces of the account, their routing engine and lifecycle, as one
object made of its parts (`Resources`, `Routing`, `Lifecycle`, `Events`)."""

from __future__ import annotations

from ..core import Core, Tick
from .callback import EventCallback
from .events import Events
from .lifecycle import Lifecycle
from .model import DEFAULT_MAX_ASSIGNMENT_COUNT, TERMINAL_TASK_RETENTION, Workspace
from .resources import Resources
from .routing import Routing


class TaskRouter(Resources, Routing, Lifecycle, Events):
    """All workspaces of the account and the routing engine."""

    def __init__(
        self,
        core: Core,
        *,
        release_capacity_on_wrapup: bool = False,
        task_retention: float = TERMINAL_TASK_RETENTION,
        max_assignment_count: int | None = DEFAULT_MAX_ASSIGNMENT_COUNT,
    ) -> None:
        self.core = core
        self.workspaces: dict[str, Workspace] = {}
        self.release_capacity_on_wrapup = release_capacity_on_wrapup
        self.task_retention = task_retention  # seconds a completed / canceled task is kept
        self.max_assignment_count = max_assignment_count
        self._dispatching = False
        self._redispatch = False
        self._held: list | None = None  # events held back while a new task is first routed
        self._routing_tokens: dict[str, tuple[tuple, dict[str, tuple]]] = {}  # see _routing_state
        core.register(self)
        self.event_callback = EventCallback(core)
        core.subscribe(Tick, lambda _tick: self.tick())
