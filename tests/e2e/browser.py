"""Debian's headless Chromium for the browser tests, driven by Playwright's Python package
(`pip install playwright`; no `playwright install`: the system browser is used).

In CI (`CI=true`, as `.ci/run` sets it) something the browser tests need that is missing is a
failure, never a silent skip: `required` raises instead of returning the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra installs it; say so rather than fail
    sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def required(missing: str | None) -> str | None:
    """`missing` (why the tests cannot run, or None); raises instead when running in CI."""
    if missing and os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"CI=true and the browser tests cannot run: {missing}")
    return missing


BROWSER_MISSING = required(
    f"no {CHROMIUM}: Debian's browser (apt-get install -y chromium)"
    if not os.access(CHROMIUM, os.X_OK)
    else "Playwright's Python package is not installed (pip install playwright)"
    if sync_playwright is None
    else None
)


DOCS = Path(__file__).resolve().parents[2] / "docs"


def save_screenshot(page: object, name: str, scratch: Path, **options: object) -> Path:
    """Screenshot `page` to `docs/<name>` when `SCREENSHOTS=docs` (to refresh the README's pictures),
    else into the test's `scratch` directory, so that a test run leaves the checkout as it found it.
    Either way the picture is taken and must be a PNG."""
    target = (DOCS if os.environ.get("SCREENSHOTS") == "docs" else scratch) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), **options)  # type: ignore[attr-defined]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", target
    return target
