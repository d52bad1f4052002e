"""Every answer a sandbox gave, checked against Twilio's OpenAPI description (openapi-core), with
exactly the documented fields; error bodies in Twilio's error shape; the Flex token check in
the validator's shape. Shared by the fidelity tour and the behaviour tests."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache

import jsonschema
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from sandbox import Sandbox
from sandbox.oai import HOSTS, spec

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}
# the Flex token validator's answer (twilio-flex-token-validator and its users)
TOKEN_SCHEMA = {
    "type": "object",
    "required": [
        "valid",
        "code",
        "message",
        "expiration",
        "identity",
        "realm_user_id",
        "worker_sid",
        "roles",
    ],
    "properties": {
        "valid": {"type": "boolean"},
        "code": {"type": "integer"},
        "message": {"type": ["string", "null"]},
        "expiration": {"type": ["string", "null"]},
        "identity": {"type": ["string", "null"]},
        "realm_user_id": {"type": ["string", "null"]},
        "worker_sid": {"type": ["string", "null"], "pattern": "^WK[0-9a-f]{32}$"},
        "roles": {"type": ["array", "null"], "items": {"type": "string"}},
        "flex_instance_sid": {"type": ["string", "null"], "pattern": "^GO[0-9a-f]{32}$"},
        "flex_user_sid": {"type": ["string", "null"], "pattern": "^FU[0-9a-f]{32}$"},
    },
}


@cache
def _validator(product: str) -> OpenAPI:
    return OpenAPI.from_dict(spec().docs[product])


def _props(product: str, schema: dict) -> dict:
    doc = spec().docs[product]
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _exact_keys(product: str, schema: dict, body) -> list[str]:
    """Differences between the documented fields and the ones the sandbox answers with."""
    schema = _props(product, schema)
    if not isinstance(body, dict) or "properties" not in schema:
        return []
    props = schema["properties"]
    problems = []
    if set(body) != set(props):
        problems.append(f"fields {sorted(set(body) ^ set(props))} differ from the description")
    for key, sub in props.items():
        if sub.get("type") == "array" and "$ref" in sub.get("items", {}) and isinstance(body.get(key), list):
            for item in body[key]:
                problems += _exact_keys(product, sub["items"], item)
    return problems


def answer_problems(sb: Sandbox) -> tuple[int, list[str]]:
    """(how many successful answers were checked, what differs from the description)."""
    kinds = defaultdict(list)
    for r in sb.requests:
        kinds[(r.product, r.template, r.method, r.status)].append(r)
    checked, failures = 0, []
    for (product, template, method, status), records in sorted(kinds.items(), key=str):
        for r in records:
            if status >= 400:
                try:
                    jsonschema.validate(r.response, ERROR_SCHEMA)
                    assert r.response["status"] == status
                except (jsonschema.ValidationError, AssertionError) as exc:
                    failures.append(f"{method} {r.path} {status}: {exc}")
                continue
            if product == "iam":
                jsonschema.validate(r.response, TOKEN_SCHEMA)
                continue
            op = spec().operation(product, template, method)
            if status not in op.responses:
                failures.append(f"{method} {template} answered {status}, documented {list(op.responses)}")
                continue
            if op.responses[status] is None:
                if r.response is not None:
                    failures.append(f"{method} {template} {status} must have no body")
                continue
            request = MockRequest(HOSTS[product], method.lower(), r.path, args=None)
            response = MockResponse(json.dumps(r.response).encode(), status, content_type="application/json")
            try:
                _validator(product).validate_response(request, response)
            except Exception as exc:
                failures.append(f"{method} {r.path} {status}: {exc}")
            failures += [
                f"{method} {template}: {p}" for p in _exact_keys(product, op.responses[status], r.response)
            ]
            checked += 1
    return checked, failures


def assert_described(sb: Sandbox) -> int:
    """Every answer matches the description and the sandbox saw nothing Twilio would reject."""
    sb.assert_faithful()
    checked, failures = answer_problems(sb)
    assert failures == []
    return checked
