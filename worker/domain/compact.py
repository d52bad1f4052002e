"""The stored form of the domain's dataclasses: every field equal to its default is left out.

Reading a stored value back means constructing the dataclasses from what is there, which restores
what was left out; a dict that names every field (the format written before) reads back the same.
Pure Python, no I/O.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any


def without_defaults(value: Any) -> Any:
    """`dataclasses.asdict`, recursively, minus the fields equal to their declared defaults.

    Only dataclass fields are left out: dicts and lists inside them (an outbox item's data, the
    failures) are copied whole.
    """
    if is_dataclass(value) and not isinstance(value, type):
        kept: dict[str, Any] = {}
        for spec in fields(value):
            item = getattr(value, spec.name)
            if spec.default is not MISSING and item == spec.default:
                continue
            if spec.default_factory is not MISSING and item == spec.default_factory():
                continue
            kept[spec.name] = without_defaults(item)
        return kept
    if isinstance(value, dict):
        return {key: without_defaults(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_defaults(item) for item in value]
    return value
