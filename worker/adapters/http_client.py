"""A twilio `HttpClient` that sends Twilio REST requests to `TWILIO_API_BASE_URL` (CONTRACT §3).

`https://{product}.twilio.com/{path}` and regional hosts such as
`https://taskrouter.dublin.ie1.twilio.com/{path}` go to `{base}/{product}/{path}`.

The timeout is a real bound on when a request can leave (`worker.domain.lease` depends on it):
requests' own timeout applies to each connection attempt and each read, so a connect that is
slow (several addresses tried one after the other, each up to the timeout) could send the request
long after the call began. Here a connection made after the call's deadline is closed unsent, and
the call fails as unanswered; a pooled keep-alive connection sends at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import getproxies

import requests
import urllib3
from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from urllib3.exceptions import ConnectTimeoutError

log = logging.getLogger("chat_transfer.twilio")

CallObserver = Callable[[str, str, int, float], None]


def stop_reading_the_environment(session: requests.Session) -> None:
    """A session that trusts the environment reads every proxy variable (and stats ~/.netrc) on
    every request, a tenth of a millisecond of CPU each time. With no proxy configured, read what
    it would read once, now: the CA bundle (`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, as
    requests does). ~/.netrc only serves requests without credentials, and Twilio's all have them."""
    if getproxies():
        return
    session.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle


def rewrite_twilio_url(url: str, base_url: str | None) -> str:
    if not base_url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith(".twilio.com"):
        return url
    product = host.split(".", 1)[0]
    base = urlsplit(base_url.rstrip("/"))
    return urlunsplit((base.scheme, base.netloc, f"{base.path}/{product}{parts.path}", parts.query, ""))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


_deadline: ContextVar[float | None] = ContextVar("twilio_call_deadline", default=None)


class _DeadlineConnect:
    """A connection that will not send anything when it was made after the call's deadline."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() > deadline:
            self.close()  # type: ignore[attr-defined]
            raise ConnectTimeoutError(self, "connected after the call's deadline; the request was not sent")


class _HTTPConnection(_DeadlineConnect, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnect, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, its pools making connections that honour the call's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class RoutedHttpClient(TwilioHttpClient):
    """Rewrites hosts when a base URL is set; logs and observes every call (never its auth)."""

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=logging.getLogger("twilio.quiet"))
        self.logger.setLevel(logging.WARNING)
        if self.session is not None:
            stop_reading_the_environment(self.session)
            adapter = DeadlineAdapter(pool_maxsize=min(32, (os.cpu_count() or 1) + 4))
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
        self.base_url = base_url
        self.observer = observer

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        target = rewrite_twilio_url(url, self.base_url)
        started = time.perf_counter()
        bound = timeout or self.timeout
        token = _deadline.set(time.monotonic() + bound if bound else None)
        try:
            response = super().request(method, target, params, data, headers, auth, timeout, allow_redirects)
        except requests.RequestException as error:
            raise TwilioTransient(None, None) from error
        finally:
            _deadline.reset(token)
        elapsed = time.perf_counter() - started
        path = urlsplit(url).path
        log.info(
            "twilio call",
            extra={
                "method": method.upper(),
                "url": url,
                "status": response.status_code,
                "ms": round(elapsed * 1000, 1),
            },
        )
        if self.observer:
            self.observer(method.upper(), path, response.status_code, elapsed)
        if response.status_code == 429 or response.status_code >= 500:
            raise TwilioTransient(response.status_code, _retry_after(response.headers))
        return response

    def __repr__(self) -> str:  # keep credentials out of any repr
        return f"RoutedHttpClient(base_url={self.base_url!r})"


class TwilioTransient(RuntimeError):
    """429 or 5xx (or no answer at all): worth retrying, after `retry_after` seconds if Twilio said."""

    def __init__(self, status: int | None, retry_after: float | None) -> None:
        super().__init__(f"Twilio answered {status}; retry" if status else "Twilio did not answer; retry")
        self.status = status
        self.retry_after = retry_after
