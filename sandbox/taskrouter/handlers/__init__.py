"""TaskRouter's REST handlers, one module per resource group (importing them registers them)."""

from . import events, queues, reservations, tasks, workers, workflows, workspaces

__all__ = ["events", "queues", "reservations", "tasks", "workers", "workflows", "workspaces"]
