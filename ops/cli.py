"""`chat-transfer`: the service's command line (CONTRACT §2)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from worker.settings import load_settings_or_exit


def _celery(args: Sequence[str]) -> int:
    load_settings_or_exit()
    from worker.celery_app import app

    app.start(argv=list(args))
    return 0


def cmd_web(ns: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    from worker.logs import configure_logging

    configure_logging(settings.log_level)
    from webhooks.server import serve

    serve(settings, host=ns.host, port=ns.port, workers=ns.workers)
    return 0


def cmd_worker(ns: argparse.Namespace) -> int:
    argv = ["worker", "--loglevel", ns.loglevel, "-Q", ns.queues]
    if ns.concurrency:
        argv += ["--concurrency", str(ns.concurrency)]
    return _celery(argv)


def cmd_beat(ns: argparse.Namespace) -> int:
    return _celery(["beat", "--loglevel", ns.loglevel, "--schedule", ns.schedule])


def _twilio_account_configured() -> bool:
    from pydantic import ValidationError

    from worker.settings import get_settings

    try:
        get_settings()
    except ValidationError as error:
        return not any(e["loc"] == ("twilio_account_sid",) and e["type"] == "missing" for e in error.errors())
    return True


def _interrupt_on_sigterm() -> None:
    """SIGTERM stops `up` as Ctrl-C does, so its child processes are stopped too."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _up_on_sandbox(ns: argparse.Namespace) -> int:
    """No Twilio account configured: run everything against the built-in sandbox."""
    from ops.localstack import LocalStack

    _interrupt_on_sigterm()
    print("chat-transfer up: no TWILIO_ACCOUNT_SID, so the service runs against the built-in Twilio sandbox")
    stack = LocalStack(beat=True, web_port=ns.port, progress=lambda m: print(f"  {m}", flush=True))
    with stack:
        env = stack.env
        print("  settings in use (put your own account's in .env to run against Twilio):")
        for name in (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_FLEX_WORKSPACE_SID",
            "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID",
            "TWILIO_API_BASE_URL",
            "REDIS_URL",
        ):
            print(f"    {name}={env[name]}")
        print(f"  agents' Flex tokens for POST /transfers: {json.dumps(stack.setup.tokens)}")
        print("running; Ctrl-C stops everything", flush=True)
        try:
            while all(p.alive() for p in [stack.web, *stack.workers]):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_up(ns: argparse.Namespace) -> int:
    """Web + worker + beat as child processes; an embedded Redis when REDIS_URL is unset."""
    from ops.embedded_redis import EmbeddedRedis

    if not _twilio_account_configured():
        return _up_on_sandbox(ns)
    _interrupt_on_sigterm()
    env = dict(os.environ)
    embedded: EmbeddedRedis | None = None
    if not env.get("REDIS_URL"):
        embedded = EmbeddedRedis().start()
        env["REDIS_URL"] = embedded.url
        print(f"chat-transfer up: no REDIS_URL; embedded Redis at {embedded.url}", flush=True)
    os.environ.update(env)
    load_settings_or_exit()
    exe = [sys.executable, "-m", "ops.cli"]
    children = [
        subprocess.Popen([*exe, "web", "--host", ns.host, "--port", str(ns.port)], env=env),
        subprocess.Popen([*exe, "worker"], env=env),
        subprocess.Popen([*exe, "beat"], env=env),
    ]
    print(f"chat-transfer up: receiver on http://{ns.host}:{ns.port}, worker and beat running", flush=True)
    try:
        while all(child.poll() is None for child in children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                children[0].wait(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded:
            embedded.stop()
    return max((child.returncode or 0) for child in children)


def _redis_client():
    from worker.adapters.redis_clients import redis_client

    return redis_client(load_settings_or_exit(), socket_connect_timeout=3)


def cmd_inspect(ns: argparse.Namespace) -> int:
    from ops.chat_report import inspect_chat, render_chat
    from worker.adapters.conversation_store import ConversationStore

    settings = load_settings_or_exit()
    view = inspect_chat(
        ConversationStore(_redis_client(), settings.conversation_ttl_after_end_seconds), ns.sid
    )
    print(json.dumps(view, indent=2) if ns.json else render_chat(view))
    return 0 if view["tracked"] else 1


def cmd_dead_letters(ns: argparse.Namespace) -> int:
    """`retry` sends the work again, except a transfer that has settled since (the give-up of its
    job failed it): that letter is only taken off the list. Re-opening the transfer could surprise
    an agent told it failed, maybe days ago; a new transfer of the task is what they send."""
    from worker.adapters.dead_letters import DeadLetters
    from worker.adapters.transfer_store import TransferStore
    from worker.celery_app import app
    from worker.handlers.transfers import settled_transfer

    client = _redis_client()
    letters = DeadLetters(client)
    if ns.action == "list":
        for index, entry in enumerate(letters.list()):
            print(f"{index}\t{entry['task']}\t{entry['error']}\t{json.dumps(entry['payload'])}")
        return 0
    entry = letters.take(ns.index)
    if entry is None:
        print(f"chat-transfer: no dead letter {ns.index}", file=sys.stderr)
        return 1
    if ns.action == "retry" and (transfer := settled_transfer(TransferStore(client), entry)):
        why = f" ({transfer.reason})" if transfer.reason else ""
        print(f"not requeued: transfer {transfer.id} has settled as {transfer.status}{why}")
    elif ns.action == "retry":
        app.send_task(entry["task"], args=[entry["payload"]] if entry["payload"] is not None else [])
        print(f"requeued {entry['task']}")
    else:
        print(f"dropped {entry['task']}")
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    from ops.demo import run_demo

    return run_demo(ns.json, web_port=ns.web_port if ns.web else None)


def cmd_setup(ns: argparse.Namespace) -> int:
    from ops.setup_account import main as setup_main

    return setup_main(ns)


def cmd_sandbox(argv: Sequence[str]) -> int:
    """Every option is the sandbox's own (`chat-transfer sandbox --help`)."""
    from sandbox import cli_main

    return int(cli_main(list(argv)) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-transfer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    web = sub.add_parser("web", help="the Flask receiver under gunicorn")
    web.add_argument("--host", default="0.0.0.0")
    web.add_argument("--port", type=int, default=8080)
    web.add_argument("--workers", type=int, default=None, help="gunicorn worker processes")
    web.set_defaults(func=cmd_web)

    worker = sub.add_parser("worker", help="a Celery worker (same as `celery -A worker worker`)")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--queues", default="events,transfers,maintenance")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.set_defaults(func=cmd_worker)

    beat = sub.add_parser("beat", help="the reconciliation schedule (same as `celery -A worker beat`)")
    beat.add_argument("--loglevel", default="INFO")
    beat.add_argument("--schedule", default=os.path.join(os.getcwd(), ".celerybeat-schedule"))
    beat.set_defaults(func=cmd_beat)

    up = sub.add_parser("up", help="web + worker + beat for a laptop")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.set_defaults(func=cmd_up)

    demo = sub.add_parser("demo", help="the whole story against the built-in Twilio sandbox")
    demo.add_argument("--json", metavar="PATH", help="also write the timeline as JSON (- for stdout)")
    demo.add_argument("--web", action="store_true", help="then keep running and serve the customer's page")
    demo.add_argument("--web-port", type=int, default=8090, help="its port (0: any free one)")
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("sandbox", help="the Twilio sandbox alone (its options: chat-transfer sandbox --help)")

    setup = sub.add_parser(
        "setup",
        help="find (or build) the Chat Transfer workflow, send Twilio's events to the service; "
        "write the sids to .env",
    )
    setup.add_argument("--env-file", default=".env", help="the .env to read and update (default ./.env)")
    setup.add_argument("--create-workflow", action="store_true", help="create or update the workflow")
    setup.add_argument("--dry-run", action="store_true", help="change nothing; print the exact change")
    setup.add_argument(
        "--public-url", metavar="URL",
        help="the service's public base URL: the workspace's event callback and the Conversations "
        "post-event webhook point at it, their event filters merged with what is there",
    )  # fmt: skip
    setup.add_argument(
        "--event-streams",
        action="store_true",
        help="with --public-url: subscribe the service to Event Streams (a webhook sink and one "
        "subscription) and leave the workspace's event callback and the Conversations webhooks alone",
    )
    setup.add_argument(
        "--conversations-webhook", choices=["service", "global"], default="service",
        help="with --public-url: the post-event webhook of the Flex chat service (default) or account-wide",
    )  # fmt: skip
    setup.add_argument(
        "--replace-callback", action="store_true",
        help="with --public-url: take over a callback URL someone else set (printing what it replaces)",
    )  # fmt: skip
    setup.set_defaults(func=cmd_setup)

    inspect = sub.add_parser("inspect", help="what the service tracks for a chat (CH…)")
    inspect.add_argument("sid")
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(func=cmd_inspect)

    dead = sub.add_parser("dead-letters", help="work that gave up: list, retry or drop it")
    dead.add_argument("action", choices=["list", "retry", "drop"])
    dead.add_argument("index", nargs="?", type=int, default=0)
    dead.set_defaults(func=cmd_dead_letters)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sandbox"]:
        return cmd_sandbox(args[1:])
    ns = build_parser().parse_args(args)
    return int(ns.func(ns) or 0)


if __name__ == "__main__":
    sys.exit(main())
