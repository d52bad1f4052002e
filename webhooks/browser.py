"""What the browser-facing endpoints share (`/transfers`, `/tasks/…`, `/chats/…`; CONTRACT §4,
README, the browser endpoints' table): CORS, the guard against starving webhook intake, the agent's Flex token
checked against a task or a chat, and one mapping from what went wrong to the documented answer.

A new endpoint is a view decorated with `browser_endpoint(name)` that raises the domain's errors
(`InvalidInput` → 400, `Forbidden` → 403, `NotFound` → 404, `Conflict` → 409; Twilio, Redis or the
broker unreachable → 503) and returns its 2xx answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

import redis
from flask import Response, current_app, request

from webhooks.browser_guard import BrowserGuard, Busy, RateLimited
from webhooks.metrics import REQUESTS
from webhooks.routes import reject
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.flex_tokens import FlexIdentity, FlexTokenValidator
from worker.adapters.http_client import TwilioTransient
from worker.adapters.twilio_gateway import NotFound, TwilioGateway, TwilioRejected
from worker.domain.errors import Forbidden, InvalidInput, ServiceUnavailable
from worker.domain.transfer_policy import Requester

P = ParamSpec("P")
# Paths the Flex UI calls from another origin, and the headers it may send (CONTRACT §4).
CORS_PATHS = (r"/transfers*", r"/tasks/*", r"/chats/*")
CORS_HEADERS = ["Content-Type", "Idempotency-Key", "X-Flex-Token"]


class Conflict(Exception):
    """409: the request conflicts with what is under way; `extra` goes into the answer."""

    def __init__(self, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message, self.field, self.extra = message, field, extra


class Missing(Exception):
    """404: what the request names does not exist (or the service never tracked it)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def ext(name: str) -> Any:
    return current_app.extensions[f"chat_transfer.{name}"]


def browser_endpoint(name: str) -> Callable[[Callable[P, Response]], Callable[P, Response]]:
    """Guard a browser-facing view and answer every failure as the description says."""

    def decorate(view: Callable[P, Response]) -> Callable[P, Response]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
            guard: BrowserGuard = ext("browser_guard")
            try:
                with guard.admit(request.remote_addr or "unknown"):
                    response = view(*args, **kwargs)
            except RateLimited as limited:
                return _with_retry_after(reject(name, 429, "rate_limited", str(limited)), limited.retry_after)
            except Busy:
                busy = reject(name, 503, "busy", "the service is busy with other requests; retry")
                return _with_retry_after(busy, 1)
            except InvalidInput as error:
                return reject(name, 400, "invalid", error.message, error.field)
            except Forbidden as error:
                return reject(name, 403, error.reason, error.message, error.field)
            except Missing as error:
                return reject(name, 404, "not_found", error.message, error.field)
            except NotFound as error:  # from Twilio, where the view named nothing more precise
                return reject(name, 404, "not_found", f"Twilio has no such resource: {error}")
            except Conflict as error:
                return reject(name, 409, "conflict", error.message, error.field, **error.extra)
            except (ServiceUnavailable, TwilioTransient, redis.RedisError) as error:
                current_app.logger.warning("%s: unavailable: %s", name, error)
                return reject(name, 503, "unavailable", "Twilio or Redis could not be reached; retry")
            except TwilioRejected as error:
                return reject(name, 502, "twilio", f"Twilio refused a check: {error}")
            REQUESTS.labels(name, str(response.status_code)).inc()
            return response

        return guarded

    return decorate


def _with_retry_after(response: Response, seconds: int) -> Response:
    response.headers["Retry-After"] = str(seconds)
    return response


def request_body() -> dict[str, Any]:
    """The request's fields: a JSON object, or a form. JSON nested past the decoder's recursion
    limit is refused like any other malformed body, not answered 500."""
    if not request.is_json:
        return request.form.to_dict(flat=True)
    try:
        body = json.loads(request.get_data(as_text=True))
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise InvalidInput("body", "body must be a JSON object")
    return body


def flex_token(body: Mapping[str, Any] | None = None) -> str:
    """The agent's Flex token: the body's `Token`, else the `X-Flex-Token` header or `Token` query."""
    token = (body or {}).get("Token") or (body or {}).get("token")
    token = token or request.headers.get("X-Flex-Token") or request.args.get("Token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput("Token", "Token (the agent's Flex token) is required")
    return token


def authenticate(token: str) -> FlexIdentity:
    validator: FlexTokenValidator = ext("tokens")
    identity = validator.validate(token)
    if identity is None:
        raise Forbidden("the Flex token is not valid", reason="token")
    return identity


def worker_on_task(task_sid: str) -> str | None:
    """Who holds the task: what we track, else TaskRouter's accepted reservation (NotFound: no task)."""
    store: ConversationStore = ext("store")
    conversation_sid = store.conversation_of_task(task_sid)
    state = store.load(conversation_sid) if conversation_sid else None
    member = state.member_on(task_sid) if state is not None else None
    if member is not None:
        # The agent in the chat on it, or the one who had it and left (a leave asked again).
        return member.worker_sid
    gateway: TwilioGateway = ext("gateway")
    return gateway.accepted_worker_of(task_sid)


def authorize_task(identity: FlexIdentity, task_sid: str, doing: str = "do this") -> str | None:
    """The worker on `task_sid`, when `identity` is that worker or a supervisor; else Forbidden."""
    holder = worker_on_task(task_sid)
    Requester(identity.worker_sid, identity.is_supervisor).require_on_task(holder, doing)
    return holder
