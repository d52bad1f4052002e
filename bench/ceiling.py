"""The ceiling: a bare WSGI endpoint that only answers 204, served by the receiver's own gunicorn
settings (`webhooks.server.serve` with `load_app`), so the ratio compares the receiver's work with
nothing but gunicorn's. Run as `python -m bench.ceiling --port P [--workers N]`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    wsgi_input = environ.get("wsgi.input")
    if wsgi_input is not None:  # read the body, as any endpoint taking a form post must
        wsgi_input.read()
    start_response("204 No Content", [])
    return []


def main(argv: list[str] | None = None) -> None:
    from webhooks.server import serve
    from worker.settings import load_settings_or_exit

    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    ns = parser.parse_args(argv)
    serve(load_settings_or_exit(), ns.host, ns.port, ns.workers, load_app=lambda: app)


if __name__ == "__main__":
    main()
