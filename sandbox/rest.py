"""The REST handler registry and helpers shared by the product modules.

A handler is registered for an OpenAPI path template and method::

    @route("taskrouter", "/v1/Workspaces/{WorkspaceSid}/Tasks", "POST")
    def create_task(req: Req) -> Answer: ...

and answers ``(status, body, headers)``; errors are raised as `TwilioError`. A handler reaches
its product through the shared state: ``req.core.product(TaskRouter)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .core import Core
from .errors import bad_request

Answer = tuple[int, Any, dict[str, str]]
HANDLERS: dict[tuple[str, str, str], Callable[[Req], Answer]] = {}


def route(product: str, template: str, *methods: str):
    def register(fn):
        for method in methods:
            HANDLERS[(product, template, method)] = fn
        return fn

    return register


@dataclass
class Req:
    core: Core
    method: str
    product: str
    path: str
    template: str
    path_params: dict[str, str]
    params: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    json_body: Any = None
    extra: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.path_params[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default

    def has(self, name: str) -> bool:
        return name in self.params

    def get_list(self, name: str) -> list[str]:
        return list(self.params.get(name, []))

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"{name} must be an integer") from None

    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        value = self.get(name)
        if value is None:
            return default
        return value.lower() == "true"

    @property
    def webhook_enabled(self) -> bool:
        """X-Twilio-Webhook-Enabled: true makes a REST change fire Conversations webhooks."""
        return self.headers.get("x-twilio-webhook-enabled", "").lower() == "true"


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, body, headers or {}


def no_content() -> Answer:
    return 204, None, {}


def paginate(req: Req, items: list, key: str, url: str, render: Callable[[Any], dict]) -> Answer:
    """A Twilio v1 list page: ``{key: [...], "meta": {...}}`` with absolute page URLs.

    `url` is the list's absolute Twilio URL (https://taskrouter.twilio.com/v1/...); the
    filters of the request are kept in the page URLs, as Twilio does.
    """
    page_size = req.get_int("PageSize", 50) or 50
    page_size = max(1, min(page_size, 1000))
    page = req.get_int("Page", 0) or 0
    token = req.get("PageToken")
    if token and token.startswith("PT") and token[2:].isdigit():
        page = int(token[2:])
    filters = [
        (k, v) for k, vs in req.params.items() if k not in ("PageSize", "Page", "PageToken") for v in vs
    ]
    start = page * page_size
    chunk = items[start : start + page_size]

    def page_url(n: int, with_token: bool = True) -> str:
        q = [*filters, ("PageSize", str(page_size)), ("Page", str(n))]
        if with_token and n > 0:
            q.append(("PageToken", f"PT{n}"))
        return f"{url}?{urlencode(q)}"

    meta = {
        "page": page,
        "page_size": page_size,
        "first_page_url": page_url(0),
        "previous_page_url": page_url(page - 1) if page > 0 else None,
        "url": page_url(page),
        "next_page_url": page_url(page + 1) if start + page_size < len(items) else None,
        "key": key,
    }
    return ok({key: [render(i) for i in chunk], "meta": meta})
