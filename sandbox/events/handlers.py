"""REST: Events v1 sinks, subscriptions, subscribed events, types and schemas."""

from __future__ import annotations

import uuid

from ..errors import not_found
from ..rest import Req, no_content, ok, paginate, route
from .catalogue import EVENT_TYPES, LATEST_VERSIONS
from .model import EV
from .render import (
    event_type_json,
    schema_json,
    schema_version_json,
    sink_json,
    subscribed_event_json,
    subscription_json,
)
from .streams import EventStreams

# Types and schema versions are Twilio's catalogue, older than any sandbox: one fixed date.
CATALOGUE_DATE = "2020-08-13T13:28:20Z"


def streams(req: Req) -> EventStreams:
    return req.core.product(EventStreams)


@route("events", "/v1/Sinks", "POST")
def create_sink(req: Req):
    sink = streams(req).create_sink(
        req.get("Description") or "", req.get("SinkConfiguration") or "", req.get("SinkType") or ""
    )
    return ok(sink_json(sink), 201)


@route("events", "/v1/Sinks", "GET")
def list_sinks(req: Req):
    es = streams(req)
    items = list(es.sinks.values())
    if req.has("InUse"):
        in_use = req.get_bool("InUse")
        items = [s for s in items if es.in_use(s) == in_use]
    if req.has("Status"):
        items = [s for s in items if s.status == req.get("Status")]
    return paginate(req, items, "sinks", f"{EV}/v1/Sinks", sink_json)


@route("events", "/v1/Sinks/{Sid}", "GET", "POST", "DELETE")
def sink(req: Req):
    es = streams(req)
    found = es.sink(req["Sid"])
    if req.method == "DELETE":
        es.delete_sink(found)
        return no_content()
    if req.method == "POST":
        found.description = req.get("Description") or found.description
        found.date_updated = req.core.now()
    return ok(sink_json(found))


@route("events", "/v1/Sinks/{Sid}/Test", "POST")
def test_sink(req: Req):
    es = streams(req)
    es.test_sink(es.sink(req["Sid"]), str(uuid.UUID(int=req.core.next_seq())))
    return ok({"result": "submitted"}, 201)


@route("events", "/v1/Sinks/{Sid}/Validate", "POST")
def validate_sink(req: Req):
    found = streams(req).sink(req["Sid"])
    if found.last_test_id is None or req.get("TestId") != found.last_test_id:
        return ok({"result": "invalid"}, 201)
    found.status = "active"
    return ok({"result": "valid"}, 201)


@route("events", "/v1/Subscriptions", "POST")
def create_subscription(req: Req):
    es = streams(req)
    sub = es.create_subscription(
        req.get("Description") or "", req.get("SinkSid") or "", req.get_list("Types")
    )
    return ok(subscription_json(req.core.account_sid, sub), 201)


@route("events", "/v1/Subscriptions", "GET")
def list_subscriptions(req: Req):
    items = list(streams(req).subscriptions.values())
    if req.has("SinkSid"):
        items = [s for s in items if s.sink_sid == req.get("SinkSid")]
    return paginate(
        req,
        items,
        "subscriptions",
        f"{EV}/v1/Subscriptions",
        lambda s: subscription_json(req.core.account_sid, s),
    )


@route("events", "/v1/Subscriptions/{Sid}", "GET", "POST", "DELETE")
def subscription(req: Req):
    es = streams(req)
    sub = es.subscription(req["Sid"])
    if req.method == "DELETE":
        del es.subscriptions[sub.sid]
        return no_content()
    if req.method == "POST" and req.has("Description"):
        sub.description = req.get("Description") or ""
        sub.date_updated = req.core.now()
    return ok(subscription_json(req.core.account_sid, sub))


SUBSCRIBED = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents"


@route("events", SUBSCRIBED, "GET", "POST")
def subscribed_events(req: Req):
    es = streams(req)
    sub = es.subscription(req["SubscriptionSid"])
    if req.method == "POST":
        created = es.subscribe(sub, req.get("Type") or "", req.get_int("SchemaVersion"))
        return ok(
            subscribed_event_json(req.core.account_sid, sub, req.get("Type") or ""), 201 if created else 200
        )
    return paginate(
        req,
        list(sub.types),
        "types",
        f"{EV}/v1/Subscriptions/{sub.sid}/SubscribedEvents",
        lambda t: subscribed_event_json(req.core.account_sid, sub, t),
    )


@route("events", f"{SUBSCRIBED}/{{Type}}", "GET", "POST", "DELETE")
def subscribed_event(req: Req):
    es = streams(req)
    sub = es.subscription(req["SubscriptionSid"])
    event_type = req["Type"]
    if event_type not in sub.types:
        raise not_found(f"{event_type} is not subscribed by {sub.sid}")
    if req.method == "DELETE":
        es.unsubscribe(sub, event_type)
        return no_content()
    if req.method == "POST":
        es.subscribe(sub, event_type, req.get_int("SchemaVersion"))
    return ok(subscribed_event_json(req.core.account_sid, sub, event_type))


@route("events", "/v1/Types", "GET")
def types(req: Req):
    items = list(EVENT_TYPES.values())
    if req.has("SchemaId"):
        items = [t for t in items if t.schema_id == req.get("SchemaId")]
    return paginate(req, items, "types", f"{EV}/v1/Types", lambda t: event_type_json(t, CATALOGUE_DATE))


@route("events", "/v1/Types/{Type}", "GET")
def event_type(req: Req):
    found = EVENT_TYPES.get(req["Type"])
    if found is None:
        raise not_found(f"The requested resource /Types/{req['Type']} was not found")
    return ok(event_type_json(found, CATALOGUE_DATE))


def _schema(req: Req) -> int:
    latest = LATEST_VERSIONS.get(req["Id"])
    if latest is None:
        raise not_found(f"The requested resource /Schemas/{req['Id']} was not found")
    return latest


@route("events", "/v1/Schemas/{Id}", "GET")
def schema(req: Req):
    return ok(schema_json(req["Id"], _schema(req), CATALOGUE_DATE))


@route("events", "/v1/Schemas/{Id}/Versions", "GET")
def schema_versions(req: Req):
    latest = _schema(req)
    return paginate(
        req,
        list(range(1, latest + 1)),
        "schema_versions",
        f"{EV}/v1/Schemas/{req['Id']}/Versions",
        lambda v: schema_version_json(req["Id"], v, CATALOGUE_DATE),
    )


@route("events", "/v1/Schemas/{Id}/Versions/{SchemaVersion}", "GET")
def schema_version(req: Req):
    latest = _schema(req)
    version = req.path_params["SchemaVersion"]
    if not version.isdigit() or not 1 <= int(version) <= latest:
        raise not_found(f"The requested resource /Schemas/{req['Id']}/Versions/{version} was not found")
    return ok(schema_version_json(req["Id"], int(version), CATALOGUE_DATE))
