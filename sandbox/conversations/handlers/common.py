"""What every Conversations REST handler needs: the store, the conversation of the path, the
origin of a REST change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ...errors import bad_request
from ...rest import Answer, Req, route
from ..model import Conversation, Origin
from ..store import Conversations

Handler = Callable[[Req], Answer]


def conversations_of(req: Req) -> Conversations:
    return req.core.product(Conversations)


def origin_of(req: Req) -> Origin:
    return Origin(source="API", fire=req.webhook_enabled, reason="API")


def service_sid_of(req: Req) -> str | None:
    sid = req.path_params.get("ChatServiceSid")
    if sid is not None:
        conversations_of(req).service(sid)
    return sid


def conversation_of(req: Req, key: str) -> Conversation:
    svc = service_sid_of(req)
    return conversations_of(req).get(req[key], svc)


def in_conversation(req: Req) -> tuple[Conversations, Conversation, bool]:
    """The store, the conversation of a sub-resource path, and whether it was reached via /Services."""
    return conversations_of(req), conversation_of(req, "ConversationSid"), "ChatServiceSid" in req.path_params


def timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f"Invalid date {value}") from None


CONV_PATHS = ("/v1/Conversations", "/v1/Services/{ChatServiceSid}/Conversations")


def conversations_route(path: str, *methods: str) -> Callable[[Handler], Handler]:
    """Registers a handler for `path` below both CONV_PATHS: Twilio serves every conversation
    resource at the account's default service and again below /Services/{ChatServiceSid}."""

    def register(handler: Handler) -> Handler:
        for conversations_path in CONV_PATHS:
            route("conversations", conversations_path + path, *methods)(handler)
        return handler

    return register
