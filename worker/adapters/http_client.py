"""A twilio `HttpClient` that sends Twilio REST requests to `TWILIO_API_BASE_URL` (CONTRACT §3).

`https://{product}.twilio.com/{path}` and regional hosts such as
`https://taskrouter.dublin.ie1.twilio.com/{path}` go to `{base}/{product}/{path}`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import getproxies

import certifi
import requests
import urllib3
from requests.utils import DEFAULT_ACCEPT_ENCODING, get_encoding_from_headers
from twilio.http.http_client import TwilioHttpClient
from twilio.http.request import Request as TwilioRequest
from twilio.http.response import Response

log = logging.getLogger("chat_transfer.twilio")

CallObserver = Callable[[str, str, int, float], None]


# What requests adds to every request (`requests.utils.default_headers()`, the User-Agent and
# Accept being the twilio library's own) and the types it sends `json=` bodies for.
REQUESTS_HEADERS = {"Accept-Encoding": DEFAULT_ACCEPT_ENCODING, "Accept": "*/*", "Connection": "keep-alive"}
JSON_TYPES = ("application/json", "application/scim+json")


def _form(values: Mapping[str, Any]) -> str:
    """A form or query string exactly as requests encodes one: a list gives the key once per item,
    None is left out."""
    pairs = []
    for key, value in values.items():
        items = [value] if isinstance(value, str | bytes) or not hasattr(value, "__iter__") else value
        pairs.extend((key, item) for item in items if item is not None)
    return urlencode(pairs, doseq=True)


class DirectSender:
    """Sends what `TwilioHttpClient` sends through requests (the same URL, headers and body) with
    urllib3, which requests itself sends with, minus requests' per-call preparation (cookies,
    hooks, settings merged from the environment): about a third of the CPU of a Twilio call.
    Only used with no proxy configured; TLS is verified against the CA bundle requests would
    use (`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, else certifi's)."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        self.pool = urllib3.PoolManager(
            maxsize=min(32, (os.cpu_count() or 1) + 4),
            cert_reqs="CERT_REQUIRED",
            ca_certs=bundle,
            retries=urllib3.Retry(0, read=False, redirect=False),  # requests' own default
        )
        self._authorization: dict[tuple[str, str], str] = {}

    def send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        timeout: float | None,
    ) -> Response:
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        method = method.upper()
        sent = {**REQUESTS_HEADERS, **(headers or {})}
        if auth is not None:
            sent["Authorization"] = self._basic(auth)
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{_form(params)}"
        body: str | None = None
        if sent.get("Content-Type") in JSON_TYPES:
            body = None if data is None else json.dumps(data, allow_nan=False)
        elif data:
            body = _form(data)
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if body is None and method not in ("GET", "HEAD"):
            sent["Content-Length"] = "0"
        answer = self.pool.request(method, url, body=body, headers=sent, timeout=timeout, redirect=False)
        encoding = get_encoding_from_headers(answer.headers) or "utf-8"  # type: ignore[arg-type]
        try:
            text = str(answer.data, encoding, errors="replace")
        except LookupError:  # a charset Python does not know, as requests falls back
            text = str(answer.data, errors="replace")
        return Response(answer.status, text, answer.headers)

    def _basic(self, auth: tuple[str, str]) -> str:
        value = self._authorization.get(auth)
        if value is None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode("latin1")).decode()
            value = self._authorization[auth] = f"Basic {token}"
        return value


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
        # Through a proxy, requests (which reads it from the environment) sends; else urllib3.
        self.direct = None if getproxies() else DirectSender(self.timeout)
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
        call = (method, target, params, data, headers, auth, timeout)
        try:
            if self.direct is None or allow_redirects:
                response = super().request(*call, allow_redirects)
            else:
                last = TwilioRequest(method.upper(), target, auth, params, data, headers)
                self._test_only_last_request = last  # as the twilio library keeps them
                response = self._test_only_last_response = self.direct.send(*call)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            raise TwilioTransient(None, None) from error
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
