"""Conversations' REST handlers (importing them registers them)."""

from . import configuration, conversations

__all__ = ["configuration", "conversations"]
