"""The suite's figures: printed by every scenario, kept in docs/reliability.md with the machine.

Each scenario fills one `Figures`; the session fixture (conftest) rewrites the generated part of
docs/reliability.md — between the two markers — when a real-process scenario ran, keeping the
latest figures of the scenarios that did not run this time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
DATA = re.compile(r"<!-- figures-json\n(.*?)\n-->", re.S)
COLUMNS = ("events_sent", "faults_injected", "chats", "transfers", "lost", "doubled", "premature_ends")


@dataclass
class Figures:
    scenario: str
    title: str
    events_sent: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    chats: int = 0
    transfers: int = 0
    lost: int = 0
    doubled: int = 0
    premature_ends: int = 0
    leaked_chats: int = 0
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    real_processes: bool = True
    started: float = field(default_factory=time.monotonic)

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    def finish(self) -> Figures:
        self.seconds = round(time.monotonic() - self.started, 1)
        return self

    def line(self) -> str:
        faults = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())) or "none"
        notes = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"\n[{self.scenario}] events_sent={self.events_sent} faults_injected={self.faults_injected} "
            f"({faults}) chats={self.chats} transfers={self.transfers} lost={self.lost} "
            f"doubled={self.doubled} premature_ends={self.premature_ends} "
            f"leaked_chats={self.leaked_chats} seconds={self.seconds} {notes}"
        )

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started")
        data["faults"] = dict(sorted(self.faults.items()))
        data["faults_injected"] = self.faults_injected
        return data


def machine() -> dict[str, Any]:
    from ops.embedded_redis import redis_server_binary

    memory = "?"
    try:
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        )
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        version = subprocess.run(
            [redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        redis_version = re.search(r"v=(\S+)", version).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError, subprocess.SubprocessError):
        redis_version = "?"
    return {
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "redis_server": redis_version,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def _table(runs: list[dict[str, Any]]) -> list[str]:
    head = "| scenario | " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " | leaked chats | seconds |"
    rows = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for run in runs:
        cells = [str(run[c]) for c in COLUMNS]
        rows.append(
            f"| {run['title']} | " + " | ".join(cells) + f" | {run['leaked_chats']} | {run['seconds']} |"
        )
    return rows


def render(runs: dict[str, dict[str, Any]], host: dict[str, Any]) -> str:
    ordered = [runs[name] for name in sorted(runs, key=lambda n: runs[n].get("order", 99))]
    lines = [
        BEGIN,
        "",
        f"Latest run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on {host['cores']} cores, "
        f"{host['memory']} of memory, Python {host['python']}, redis-server {host['redis_server']} "
        f"({host['system']}). Each row is the latest run of that scenario.",
        "",
        *_table(ordered),
        "",
        "Faults injected, by kind, and what else each scenario measured:",
        "",
    ]
    for run in ordered:
        faults = ", ".join(f"{k} {v}" for k, v in run["faults"].items()) or "none"
        notes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run["notes"].items())
        lines.append(f"- **{run['title']}** — faults: {faults}." + (f" {notes}." if notes else ""))
    payload = json.dumps({"machine": host, "runs": runs}, indent=1, sort_keys=True)
    lines += ["", f"<!-- figures-json\n{payload}\n-->", END]
    return "\n".join(lines)


def write_doc(new_runs: list[Figures], order: dict[str, int], doc: Path = DOC) -> None:
    text = doc.read_text() if doc.exists() else "# Reliability\n\n## Latest figures\n\n" + BEGIN + "\n" + END
    found = DATA.search(text)
    runs: dict[str, dict[str, Any]] = json.loads(found.group(1))["runs"] if found else {}
    for figures in new_runs:
        runs[figures.scenario] = figures.as_data()
    for scenario, run in runs.items():  # a scenario added to `order` moves the rows after it
        run["order"] = order.get(scenario, run.get("order", 99))
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text[:start] + render(runs, machine()) + text[stop:])
