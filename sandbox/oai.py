"""Twilio's OpenAPI descriptions, as the sandbox uses them.

The JSON files beside this module are Twilio's own (twilio-oai, MIT licensed, see
TWILIO_OAI_LICENSE).  They serve two purposes:

* every request the sandbox receives is matched against them: the path template and
  method must exist, every query / form parameter must be one the operation declares,
  enum, integer and boolean values must parse, SID patterns must match, required
  form fields must be present.  A mismatch is answered as Twilio would (404 / 405 /
  400) and recorded as a *violation*;
* tests validate the sandbox's answers against the response schemas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent

SPEC_FILES = {
    "taskrouter": "twilio_taskrouter_v1.json",
    "conversations": "twilio_conversations_v1.json",
    "flex-api": "twilio_flex_v1.json",
    "events": "twilio_events_v1.json",
}

HOSTS = {
    "taskrouter": "https://taskrouter.twilio.com",
    "conversations": "https://conversations.twilio.com",
    "flex-api": "https://flex-api.twilio.com",
    "events": "https://events.twilio.com",
    "iam": "https://iam.twilio.com",
    "chat": "https://chat.twilio.com",
}


@dataclass
class Problem:
    kind: str  # unknown-path, method, unknown-parameter, missing-parameter, invalid-value, path-param
    message: str
    parameter: str | None = None


@dataclass
class Operation:
    product: str
    template: str
    method: str
    operation_id: str
    path_params: dict[str, dict] = field(default_factory=dict)
    query: dict[str, dict] = field(default_factory=dict)
    headers: dict[str, tuple[str, dict]] = field(default_factory=dict)  # lower name -> (name, schema)
    form: dict[str, dict] = field(default_factory=dict)
    form_required: set[str] = field(default_factory=set)
    responses: dict[int, dict | None] = field(default_factory=dict)


@dataclass
class Route:
    template: str
    regex: re.Pattern
    param_names: list[str]
    literal_segments: int
    operations: dict[str, Operation]


class Spec:
    """All loaded descriptions, keyed by product (the first label of the Twilio host)."""

    def __init__(self, directory: Path = HERE) -> None:
        self.docs: dict[str, dict] = {}
        self.routes: dict[str, list[Route]] = {}
        for product, name in SPEC_FILES.items():
            doc = json.loads((directory / name).read_text())
            self.docs[product] = doc
            self.routes[product] = self._build_routes(product, doc)

    # ----------------------------------------------------------------- building
    def _resolve(self, doc: dict, schema: dict | None) -> dict:
        seen = 0
        while schema and "$ref" in schema and seen < 10:
            ref = schema["$ref"]
            schema = doc["components"]["schemas"][ref.split("/")[-1]]
            seen += 1
        return schema or {}

    def _build_routes(self, product: str, doc: dict) -> list[Route]:
        routes = []
        for template, item in doc["paths"].items():
            names = re.findall(r"{(\w+)}", template)
            pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            ops = {}
            for method, op in item.items():
                if method not in ("get", "post", "delete", "put"):
                    continue
                ops[method.upper()] = self._build_operation(product, template, method.upper(), op, doc)
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            routes.append(Route(template, re.compile(pattern), names, literal, ops))
        # more literal segments first so /Configuration/Webhooks beats /Configuration/{x}
        routes.sort(key=lambda r: (-r.literal_segments, r.template))
        return routes

    def _build_operation(self, product, template, method, op, doc) -> Operation:
        o = Operation(product, template, method, op.get("operationId", ""))
        for prm in op.get("parameters", []):
            schema = self._resolve(doc, prm.get("schema"))
            if prm["in"] == "path":
                o.path_params[prm["name"]] = schema
            elif prm["in"] == "query":
                o.query[prm["name"]] = schema
            elif prm["in"] == "header":
                o.headers[prm["name"].lower()] = (prm["name"], schema)
        body = op.get("requestBody", {}).get("content", {})
        form = body.get("application/x-www-form-urlencoded", {}).get("schema")
        if form:
            for name, schema in form.get("properties", {}).items():
                o.form[name] = self._resolve(doc, schema)
            o.form_required = set(form.get("required", []))
        for code, resp in op.get("responses", {}).items():
            schema = resp.get("content", {}).get("application/json", {}).get("schema")
            o.responses[int(code)] = schema
        return o

    # ----------------------------------------------------------------- matching
    def match(self, product: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes.get(product, []):
            m = route.regex.match(path)
            if m:
                return route, m.groupdict()
        return None

    def check_request(
        self,
        op: Operation,
        path_params: dict[str, str],
        params: dict[str, list[str]],
        headers: dict[str, str],
    ) -> list[Problem]:
        """Everything in the request that Twilio's description does not allow."""
        problems: list[Problem] = []
        for name, value in path_params.items():
            schema = op.path_params.get(name, {})
            pat = schema.get("pattern")
            if pat and not re.match(pat, value):
                problems.append(Problem("path-param", f"{name} {value!r} does not match {pat}", name))
        declared = op.form if op.method == "POST" else op.query
        for name, values in params.items():
            if name not in declared:
                problems.append(
                    Problem(
                        "unknown-parameter",
                        f"{name} is not a parameter of {op.operation_id} ({op.method} {op.template})",
                        name,
                    )
                )
                continue
            schema = declared[name]
            for value in values:
                msg = self._check_value(op.product, schema, value)
                if msg:
                    problems.append(Problem("invalid-value", f"{name}: {msg}", name))
            if len(values) > 1 and schema.get("type") != "array":
                problems.append(Problem("invalid-value", f"{name} given {len(values)} times", name))
        if op.method == "POST":
            for name in sorted(op.form_required):
                if name not in params:
                    problems.append(Problem("missing-parameter", f"Missing required parameter {name}", name))
        for lower, (name, schema) in op.headers.items():
            if lower in headers:
                msg = self._check_value(op.product, schema, headers[lower])
                if msg:
                    problems.append(Problem("invalid-value", f"header {name}: {msg}", name))
        return problems

    def _check_value(self, product: str, schema: dict, value: str) -> str | None:
        doc = self.docs[product]
        schema = self._resolve(doc, schema)
        if schema.get("type") == "array":
            schema = self._resolve(doc, schema.get("items", {}))
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            return f"{value!r} is not one of {enum}"
        typ = schema.get("type")
        if typ == "integer":
            try:
                int(value)
            except ValueError:
                return f"{value!r} is not an integer"
        elif typ == "number":
            try:
                float(value)
            except ValueError:
                return f"{value!r} is not a number"
        elif typ == "boolean":
            if value.lower() not in ("true", "false"):
                return f"{value!r} is not a boolean"
        elif typ == "string":
            pat = schema.get("pattern")
            if pat and not re.match(pat, value):
                return f"{value!r} does not match {pat}"
        return None

    # --------------------------------------------------------------- responses
    def operation(self, product: str, template: str, method: str) -> Operation | None:
        for route in self.routes.get(product, []):
            if route.template == template:
                return route.operations.get(method)
        return None


_SPEC: Spec | None = None


def spec() -> Spec:
    """The process-wide parsed descriptions (parsing takes a moment, so it is shared)."""
    global _SPEC
    if _SPEC is None:
        _SPEC = Spec()
    return _SPEC
