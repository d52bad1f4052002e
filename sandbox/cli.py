"""``chat-transfer sandbox``: the sandbox alone, over HTTP.

    python -m sandbox --port 8765 --seed-flex --event-callback-url http://localhost:8000/webhooks/taskrouter

prints the base URL (TWILIO_API_BASE_URL), the account SID and auth token it accepts
(and, with --seed-flex, the workspace, workflow and worker SIDs), then serves until
interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from .sandbox import Sandbox


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chat-transfer sandbox", description="A stateful stand-in for Twilio.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--account-sid", help="default: derived from --seed")
    p.add_argument("--auth-token", help="default: derived from --seed")
    p.add_argument("--api-key", help="also accept this API key SID (SK...) with --api-secret")
    p.add_argument("--api-secret")
    p.add_argument("--seed", type=int, default=0, help="seeds SIDs, credentials and faults")
    p.add_argument(
        "--seed-flex", action="store_true", help="create a Flex workspace, queues, workers, workflows"
    )
    p.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="NAME=EXPR",
        help="an extra queue for --seed-flex, e.g. \"Sales=routing.skills HAS 'sales'\"",
    )
    p.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME[:skill,skill]",
        help="a worker for --seed-flex (default: alice, bob, carol)",
    )
    p.add_argument("--event-callback-url", help="the workspace EventCallbackUrl")
    p.add_argument("--conversations-webhook-url", help="the Conversations post-event webhook URL")
    p.add_argument(
        "--no-flex-orchestration",
        action="store_true",
        help="do not add agents to the conversation when they accept a task",
    )
    p.add_argument("--rate-429", type=float, default=0.0)
    p.add_argument("--rate-500", type=float, default=0.0)
    p.add_argument("--rate-500-after-commit", type=float, default=0.0)
    p.add_argument("--fault-path", help="regex on /{product}/{path} the HTTP faults apply to")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    p.add_argument("--webhook-drop", type=float, default=0.0)
    p.add_argument("--webhook-duplicate", type=float, default=0.0)
    p.add_argument("--webhook-reorder", type=float, default=0.0)
    return p


def make_sandbox(args: argparse.Namespace) -> tuple[Sandbox, dict]:
    sb = Sandbox(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        seed=args.seed,
        flex_orchestration=not args.no_flex_orchestration,
    )
    if args.api_key:
        sb.add_api_key(args.api_key, args.api_secret)
    sb.faults.configure(
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_500_after_commit=args.rate_500_after_commit,
        path=args.fault_path,
        latency=args.latency,
        webhook_drop_rate=args.webhook_drop,
        webhook_duplicate_rate=args.webhook_duplicate,
        webhook_reorder_rate=args.webhook_reorder,
    )
    info: dict = {}
    if args.seed_flex:
        queues = dict(q.split("=", 1) for q in args.queue)
        workers = []
        for spec in args.worker or ["alice", "bob", "carol"]:
            name, _, skills = spec.partition(":")
            workers.append({"name": name, "skills": [s for s in skills.split(",") if s]})
        setup = sb.seed_flex(
            queues=queues,
            workers=workers,
            event_callback_url=args.event_callback_url,
            conversations_webhook_url=args.conversations_webhook_url,
        )
        info = {
            "TWILIO_FLEX_WORKSPACE_SID": setup.workspace_sid,
            "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID": setup.chat_transfer_workflow_sid,
            "TWILIO_FLEX_CHAT_SERVICE_SID": setup.chat_service_sid,
            "assign_to_anyone_workflow_sid": setup.assign_to_anyone_workflow_sid,
            "queues": setup.queues,
            "workers": setup.workers,
            "tokens": setup.tokens,
        }
    elif args.conversations_webhook_url:
        sb.set_conversations_webhook(args.conversations_webhook_url)
    return sb, info


def serve(host: str = "127.0.0.1", port: int = 8765, **options) -> None:
    """Serve a sandbox until interrupted; `options` are the CLI's long options (seed_flex=True, ...)."""
    argv = ["--host", host, "--port", str(port)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            for v in value:
                argv += [flag, str(v)]
        elif value not in (None, False):
            argv += [flag, str(value)]
    cli_main(argv)


def cli_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sb, info = make_sandbox(args)
    base = sb.start(args.host, args.port)
    print(f"Twilio sandbox listening on {base}")
    print(f"TWILIO_API_BASE_URL={base}")
    print(f"TWILIO_ACCOUNT_SID={sb.account_sid}")
    print(f"TWILIO_AUTH_TOKEN={sb.auth_token}")
    for key, value in info.items():
        print(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    sys.stdout.flush()
    try:
        sb.serve_forever(args.host, sb.port)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return 0
