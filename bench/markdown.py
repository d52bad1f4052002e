"""What docs/benchmarks.md's sections share: a Markdown table, a percentage."""

from __future__ import annotations

from typing import Any


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def pct(value: float) -> str:
    return f"{value * 100:.0f} %"
