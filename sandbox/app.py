"""The WSGI app: Twilio's REST layout under ``/{product}/{path}``.

For every request: basic auth (account SID + auth token, or a registered API key +
secret; else 401 / 20003), injected faults, the OpenAPI check (unknown path 404,
method 405, parameter 400, each recorded as a violation), then the handler under the
sandbox lock.  Every request is recorded with its answer.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, Response, request

from . import conversations, events, taskrouter  # noqa: F401  (registers the handlers)
from .core import Core
from .delivery import Deliverer
from .errors import (
    AUTHENTICATE,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    NOT_MODELLED,
    TOO_MANY_REQUESTS,
    TwilioError,
    bad_request,
)
from .faults import Faults
from .flex import Flex, validate_token_request
from .journal import Journal, RequestRecord, Violation
from .oai import spec
from .rest import HANDLERS, Req

__all__ = ["RequestRecord", "Site", "Violation", "make_app"]

RECORDED_HEADERS = ("if-match", "x-twilio-webhook-enabled", "content-type", "user-agent")


@dataclass
class Site:
    """What the HTTP front needs of a sandbox: its shared state, journal, faults and webhooks."""

    core: Core
    journal: Journal
    faults: Faults
    deliverer: Deliverer
    base_url: Callable[[], str | None]


def _flat(multi: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in multi.items()}


def _credential(core: Core, header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    if user == core.account_sid and password == core.auth_token:
        return user
    if user in core.api_keys and core.api_keys[user] == password:
        return user
    return None


def make_app(site: Site) -> Flask:
    app = Flask("sandbox")

    @app.get("/")
    def index():
        return {
            "sandbox": "flex-chat-transfer Twilio sandbox",
            "base_url": site.base_url(),
            "account_sid": site.core.account_sid,
            "products": ["taskrouter", "conversations", "flex-api", "events", "iam"],
        }

    @app.get("/_sandbox/<what>")
    def inspect(what: str):
        with site.core.lock:
            data = {
                "requests": [r.as_dict() for r in site.journal.requests],
                "violations": [asdict(v) for v in site.journal.violations],
                "unmodelled": [asdict(v) for v in site.journal.unmodelled],
                "deliveries": [
                    {
                        "id": d.id,
                        "kind": d.kind,
                        "url": d.url,
                        "event_type": d.event_type,
                        "fields": d.fields,
                        "fault": d.fault,
                        "status": d.status,
                        "attempts": [asdict(a) for a in d.attempts],
                    }
                    for d in site.deliverer.deliveries
                ],
                "faults": {"counts": dict(site.faults.counts), "log": list(site.faults.log)},
            }
        if what not in data:
            return Response(json.dumps({"error": f"unknown {what}"}), 404, mimetype="application/json")
        return Response(json.dumps(data[what], default=str), 200, mimetype="application/json")

    @app.route("/<product>/<path:rest>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    def twilio(product: str, rest: str):
        return handle(site, product, "/" + rest)

    return app


def handle(site: Site, product: str, path: str) -> Response:
    method = request.method
    if method in ("GET", "DELETE"):
        params = request.args.to_dict(flat=False)
    else:
        params = request.form.to_dict(flat=False)
        for k, v in request.args.to_dict(flat=False).items():
            params.setdefault(k, []).extend(v)
    headers = {k.lower(): v for k, v in request.headers.items()}
    with site.core.lock:
        record = RequestRecord(
            seq=site.core.next_seq(),
            at=site.core.now(),
            method=method,
            product=product,
            path=path,
            params=_flat(params),
            headers={k: headers[k] for k in RECORDED_HEADERS if k in headers},
        )
        site.journal.requests.append(record)
    extra_headers: dict[str, str] = {}
    try:
        status, body, extra_headers = _dispatch(site, record, product, path, method, params, headers)
    except TwilioError as err:
        status, body, extra_headers = err.status, err.body(), err.headers
    except Exception as exc:  # a sandbox bug: answer like Twilio would, keep the trace in the record
        status, body = 500, TwilioError(500, INTERNAL_ERROR, f"sandbox error: {exc!r}").body()
        with site.core.lock:
            site.journal.errors.append({"seq": record.seq, "path": path, "error": repr(exc)})
    with site.core.lock:
        record.status = status
        record.response = body
        record.response_headers = dict(extra_headers)
    site.core.notify()
    if status == 204 or body is None:
        return Response(status=status, headers=extra_headers)
    return Response(json.dumps(body), status=status, headers=extra_headers, mimetype="application/json")


def _violation(site: Site, method, product, path, kind, message, parameter=None, template=None) -> None:
    with site.core.lock:
        site.journal.violations.append(Violation(method, product, path, kind, message, parameter, template))


def _dispatch(site: Site, record: RequestRecord, product, path, method, params, headers):
    cred = _credential(site.core, headers.get("authorization"))
    if cred is None:
        raise TwilioError(401, AUTHENTICATE, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    record.credential = cred
    fault = site.faults.http(method, f"/{product}{path}")
    if fault.latency:
        time.sleep(fault.latency)
    if fault.status and not fault.after_commit:
        record.fault = f"http_{fault.status}"
        raise _fault_error(fault.status, fault.retry_after)

    if product == "iam":
        return _iam(site, record, path, method)

    matched = spec().match(product, path) if product in spec().docs else None
    if matched is None:
        _violation(
            site,
            method,
            product,
            path,
            "unknown-path",
            f"no {product} path {path} in Twilio's description",
        )
        raise TwilioError(404, NOT_FOUND, f"The requested resource {path} was not found")
    route, path_params = matched
    record.template = route.template
    op = route.operations.get(method)
    if op is None:
        _violation(
            site,
            method,
            product,
            path,
            "method",
            f"{method} is not allowed on {route.template}",
            template=route.template,
        )
        raise TwilioError(405, METHOD_NOT_ALLOWED, f"Method {method} not allowed")
    record.operation_id = op.operation_id
    problems = spec().check_request(op, path_params, params, headers)
    for p in problems:
        _violation(site, method, product, path, p.kind, p.message, p.parameter, route.template)
    if any(p.kind == "path-param" for p in problems):
        raise TwilioError(404, NOT_FOUND, f"The requested resource {path} was not found")
    if problems:
        raise bad_request(problems[0].message)
    handler = HANDLERS.get((product, route.template, method))
    if handler is None:
        with site.core.lock:
            site.journal.unmodelled.append(
                Violation(
                    method,
                    product,
                    path,
                    "unmodelled",
                    f"{op.operation_id} is not modelled by the sandbox",
                    None,
                    route.template,
                )
            )
        raise TwilioError(
            501, NOT_MODELLED, f"{op.operation_id} ({method} {route.template}) is not modelled by the sandbox"
        )
    req = Req(site.core, method, product, path, route.template, path_params, params, headers)
    with site.core.lock:
        answer = handler(req)
    if fault.status and fault.after_commit:
        record.fault = f"http_{fault.status}_after_commit"
        raise _fault_error(fault.status, fault.retry_after)
    return answer


def _fault_error(status: int, retry_after: int) -> TwilioError:
    if status == 429:
        return TwilioError(429, TOO_MANY_REQUESTS, "Too Many Requests", {"Retry-After": str(retry_after)})
    return TwilioError(status, INTERNAL_ERROR if status == 500 else status * 100, "Internal Server Error")


def _iam(site: Site, record: RequestRecord, path: str, method: str):
    parts = path.strip("/").split("/")
    if (
        len(parts) == 5
        and parts[0] == "v1"
        and parts[1] == "Accounts"
        and parts[3:] == ["Tokens", "validate"]
    ):
        record.template = "/v1/Accounts/{AccountSid}/Tokens/validate"
        record.operation_id = "ValidateToken"
        if method != "POST":
            _violation(site, method, "iam", path, "method", "Tokens/validate takes POST")
            raise TwilioError(405, METHOD_NOT_ALLOWED, f"Method {method} not allowed")
        body = request.get_json(silent=True)
        record.params = body if isinstance(body, dict) else {"_raw": request.get_data(as_text=True)}
        if not (request.content_type or "").startswith("application/json"):
            _violation(site, method, "iam", path, "invalid-value", "Tokens/validate takes a JSON body")
        with site.core.lock:
            status, answer = validate_token_request(
                site.core.product(Flex), site.core.account_sid, parts[2], body
            )
        return status, answer, {}
    _violation(site, method, "iam", path, "unknown-path", f"iam path {path} is not modelled")
    raise TwilioError(404, NOT_FOUND, f"The requested resource {path} was not found")
