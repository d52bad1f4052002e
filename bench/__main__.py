"""`python -m bench [--quick] [--only SECTION ...]`: run the benchmarks, print a table, write
`bench/results.json` (the ten headline numbers, flat dotted keys), `bench/results-details.json`
(everything measured, nested) and `docs/benchmarks.md`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from bench.common import REPO, CpuWatch, say

SECTIONS = ("intake", "e2e", "scale", "profiles", "browser", "ha")
RESULTS = REPO / "bench" / "results.json"
DETAILS = REPO / "bench" / "results-details.json"
DOC = REPO / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmarks of flex-chat-transfer: intake (the callback and the Event Streams sink), end to "
            "end, cost, scale, profiles, webhook intake under a browser flood, and replicated Redis "
            "(WAIT for a replica, on and off)."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs (under three minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        help="run only these sections (the others keep their last results)",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the table and docs from the last run's details"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    from bench import report

    if ns.report_only:
        details = json.loads(DETAILS.read_text())
        merged = json.loads(RESULTS.read_text())
        print(report.table(details, merged))
        DOC.write_text(report.document(details, merged))
        return 0
    wanted = ns.only or list(SECTIONS)
    details: dict[str, Any] = json.loads(DETAILS.read_text()) if DETAILS.exists() and ns.only else {}
    details["machine"] = report.machine()
    details["mode"] = "quick" if ns.quick else "full"
    details["run_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    started = time.perf_counter()

    def section(name: str, work: Any) -> None:
        say(f"── {name}")
        watch = CpuWatch()
        value = work()
        details[name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        details.setdefault("cpu", {})[name] = watch.stop()
        details.setdefault("modes", {})[name] = details["mode"]
        # With --only, the other sections keep an older run's figures, perhaps from another machine.
        machine = details["machine"]
        details.setdefault("ran", {})[name] = {
            "at": details["run_at"],
            "cpu_model": machine["cpu_model"],
            "cores": machine["cores"],
        }

    if "intake" in wanted:
        from bench import intake

        section("intake", lambda: intake.run(ns.quick))
    if "e2e" in wanted:
        from bench import e2e, profiles

        hook = profiles.profile_transfers if "profiles" in wanted else None
        transfer_profile: dict[str, Any] = {}

        def run_e2e() -> Any:
            def profile(stack: Any) -> None:
                transfer_profile.update(profiles.profile_transfers(stack))

            return e2e.run(ns.quick, profile if hook else None)

        section("e2e", run_e2e)
        if transfer_profile:
            details.setdefault("profiles", {})["transfer"] = transfer_profile
    if "scale" in wanted:
        from bench import scale

        section("scale", lambda: scale.run(ns.quick))
    if "ha" in wanted:
        from bench import replication

        section("ha", lambda: replication.run(ns.quick))
    if "profiles" in wanted:
        from bench import profiles

        intake_profile = profiles.profile_intake(ns.quick)
        details.setdefault("profiles", {})["intake"] = intake_profile
        from bench import hotpath

        details["profiles"]["hotpath"] = hotpath.run(ns.quick)
    if "browser" in wanted:
        from bench import browser

        section("browser", lambda: browser.run(ns.quick))
    details["seconds"] = round(time.perf_counter() - started, 1)

    headline = report.headline(details)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and ns.only else {}
    merged = {key: headline.get(key, previous.get(key)) for key in report.KEYS}
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    DETAILS.write_text(json.dumps(details, indent=1, default=str) + "\n")
    print(report.table(details, merged))
    if not ns.no_docs:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(report.document(details, merged))
        say(f"wrote {RESULTS.relative_to(REPO)}, {DETAILS.relative_to(REPO)} and {DOC.relative_to(REPO)}")
    say(f"done in {details['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
