"""The workspace's event callback: a subscriber to `EventPublished` that POSTs the event's
fields to the workspace's ``EventCallbackUrl`` when its ``EventsFilter`` lets it through
(sent once: the connection overrides its URL may carry are not modelled; the Deliverer signs
and records)."""

from __future__ import annotations

from ..core import Core
from .events import EventPublished
from .model import Workspace


class EventCallback:
    def __init__(self, core: Core) -> None:
        self.core = core
        core.subscribe(EventPublished, self.on_event)

    def on_event(self, published: EventPublished) -> None:
        """The workspace's EventCallbackUrl hears the events its EventsFilter lets through."""
        ws = published.workspace
        if ws.event_callback_url and self._wanted(ws, published.event.event_type):
            self.core.deliver("taskrouter", ws.event_callback_url, published.fields, "POST")

    @staticmethod
    def _wanted(ws: Workspace, event_type: str) -> bool:
        if not ws.events_filter:
            return True
        return event_type in [e.strip() for e in ws.events_filter.split(",")]
