"""Fuzzing the receiver (issue 6): bodies generated from the service's own OpenAPI description
(webhooks/openapi.json) — every described field sometimes right, sometimes wrong, sometimes
missing, plus fields nobody described — and raw random bodies, signed with the right token, a
wrong one, or not at all, a couple of thousand cases per endpoint.

Whatever arrives: never a 5xx, every status is one the description documents (and its body fits
the schema), a rejected request queues nothing and records no transfer, an accepted one queues
exactly one message (or none, for a redelivery of an event already queued).

In-process, fast enough for the default run: the receiver built with fakeredis and a recording
queue, the Twilio it asks about tokens, tasks and conversations being the sandbox over HTTP.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource

from sandbox import Sandbox
from tests.faults.figures import Figures
from tests.support.cloudevents import conversations_event, taskrouter_event
from tests.support.settings import sandbox_settings
from tests.support.signing import event_streams_signature, twilio_signature
from tests.unit.test_openapi import SPEC
from tests.unit.test_receiver import RecordingQueue
from webhooks import create_app
from webhooks.intake import body_digest
from worker.adapters.task_queue import RUN_TRANSFER

pytestmark = [pytest.mark.faults, pytest.mark.fuzz]

BASE = "https://receiver.example.com"
EVENT_STREAMS = "/webhooks/event-streams"
FORM = "application/x-www-form-urlencoded"
# Per test: a few hundred in the default run (seconds), 2000 under `-m faults` (conftest).
CASES = int(os.environ.get("FUZZ_CASES", "300"))
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,  # the same cases on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
Strategy = st.SearchStrategy


@dataclass
class Receiver:
    client: Any
    queue: RecordingQueue
    redis: fakeredis.FakeRedis
    token: str
    known: dict[str, list[str]]
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    accepted_ids: set[str] = field(default_factory=set)
    bodies: dict[tuple[str, str], st.SearchStrategy] = field(default_factory=dict)
    transfer_ids: list[str] = field(default_factory=list)  # accepted by POST /transfers

    def body(
        self, template: str, content_type: str = "application/x-www-form-urlencoded"
    ) -> st.SearchStrategy:
        """Built once: a strategy is costly to build, cheap to draw from."""
        if (template, content_type) not in self.bodies:
            self.bodies[template, content_type] = body(template, content_type, self.known)
        return self.bodies[template, content_type]

    def transfers(self) -> int:
        return len(self.redis.keys("cft:transfer:*"))

    def call(self, template: str, method: str, path: str, **request: Any) -> Any:
        """One request, and every rule the fuzz holds the receiver to."""
        records = template == "/transfers"  # the only endpoint that writes transfer records
        queued, transfers = len(self.queue.sent), self.transfers() if records else 0
        response = self.client.open(path, method=method.upper(), **request)
        status = response.status_code
        self.statuses.setdefault(template, Counter())[status] += 1
        assert status < 500, (template, status, response.get_data()[:300], request)
        documented(template, method, response)
        added = len(self.queue.sent) - queued
        if status >= 400:
            assert added == 0 and (self.transfers() if records else 0) == transfers, (template, request)
        elif template == EVENT_STREAMS:  # a batch: what it says it queued, and nothing else
            assert added == response.get_json()["queued"], (added, response.get_json())
        elif template == "/transfers":
            assert added == 1 and self.queue.sent[-1][0] == RUN_TRANSFER
            assert self.transfers() == transfers + 1
            self.transfer_ids.append(response.get_json()["transferId"])
        elif method == "post":
            assert added in (0, 1), (template, added)
        return response


@functools.cache
def validator(template: str, method: str, status: str) -> OAS30Validator | None:
    content = SPEC["paths"][template][method]["responses"][status].get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    registry = Registry().with_resource("urn:spec", Resource.opaque(SPEC))
    schema = {"$ref": "urn:spec" + schema["$ref"]} if "$ref" in schema else {**schema, "$id": "urn:spec"}
    return OAS30Validator(schema, registry=registry)


def documented(template: str, method: str, response: Any) -> None:
    """The status is one the description documents for the operation, and a JSON body fits."""
    status = str(response.status_code)
    assert status in SPEC["paths"][template][method]["responses"], (template, method, status)
    if status == "204":
        assert response.get_data() == b""
    elif (check := validator(template, method, status)) is not None:
        check.validate(response.get_json())


@pytest.fixture(scope="module")
def receiver(figure_book) -> Iterator[Receiver]:
    title = f"fuzz: {CASES} cases a test, bodies from the description and random, signed or not"
    figures = Figures("fuzz", title, real_processes=False)
    with Sandbox(seed=11) as sb:
        setup = sb.seed_flex(queues={"Sales": "1==1"}, workers=[{"name": "alice"}, {"name": "bob"}])
        chat = sb.start_chat("fuzz")
        sb.accept(sb.pending_reservation(task_sid=chat.task_sid)["sid"])
        redis = fakeredis.FakeRedis()
        queue = RecordingQueue()
        app = create_app(
            sandbox_settings(
                sb,
                setup,
                public_base_url=BASE,
                browser_rate_limit="1000000/minute",  # the fuzz is one client; its limit has its own test
            ),
            redis_client=redis,
            task_queue=queue,
        )
        known = {
            "taskSid": [chat.task_sid],
            "targetSid": [*setup.workers.values(), *setup.queues.values()],
            "Token": list(setup.tokens.values()),
            "workflowSid": [setup.chat_transfer_workflow_sid],
            "conversationSid": [chat.conversation_sid],
            "channelSid": [chat.conversation_sid],
            "AccountSid": [sb.account_sid],
            "ResourceSid": [chat.task_sid],
            "WorkspaceSid": [setup.workspace_sid],
        }
        fuzzed = Receiver(app.test_client(), queue, redis, sb.auth_token, known)
        yield fuzzed
        assert sb.errors == []
    figures.events_sent = sum(sum(c.values()) for c in fuzzed.statuses.values())
    figures.faults["rejected"] = sum(n for c in fuzzed.statuses.values() for s, n in c.items() if s >= 400)
    figures.notes.update(
        answers={t: dict(sorted(c.items())) for t, c in fuzzed.statuses.items()},
        answers_5xx=0,  # any would have failed the test
        queued_from_rejected=0,
    )
    figure_book.record(figures)


# ---- strategies from the description -------------------------------------------------------

# Cheap to draw (a sampled value is one choice): a few thousand cases per endpoint in seconds.
JUNK = [
    "", " ", "0", "-1", "1e309", "null", "true", "[]", "{}", "[1, 2]", '"text"', "{not json", "\x00",
    "é", "名前", "\u202e", "' OR 1=1 --", "<script>", "%00", "../..", "a" * 300, "WT123", "WK" + "0" * 32,
    "XX" + "f" * 32, "WT" + "g" * 32, "WARM ", "cold", "task.completed", "onParticipantAdded",
    '{"conversationSid": "CH' + "0" * 32 + '"}', '{"conversationSid": 7}', "\r\nX-Injected: 1",
]  # fmt: skip
text = st.sampled_from(JUNK) | st.text(max_size=12)
header_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.:", max_size=40)
scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
any_json = scalar | st.lists(scalar, max_size=3) | st.dictionaries(text, scalar, max_size=3)
SID_PATTERN = re.compile(r"\^\(?([A-Z|]+)\)?\[0-9a-fA-F\]\{32\}\$")


def matching(pattern: str) -> st.SearchStrategy:
    """A value the pattern accepts: sids drawn in one go, anything else by the regex."""
    sid = SID_PATTERN.fullmatch(pattern)
    if sid is None:
        return st.from_regex(pattern, fullmatch=True)
    prefixes = sid.group(1).split("|")
    return st.tuples(st.sampled_from(prefixes), st.binary(min_size=16, max_size=16)).map(
        lambda parts: parts[0] + parts[1].hex()
    )


def right(name: str, schema: dict[str, Any], known: dict[str, list[str]], json_body: bool) -> Strategy:
    """A value the description (and the account: real sids, real tokens) accepts."""
    options: list[Strategy] = []
    if name in known:
        options.append(st.sampled_from(known[name]))
    if "pattern" in schema:
        options.append(matching(schema["pattern"]))
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if schema.get("type") == "integer":
        numbers = st.integers(min_value=schema.get("minimum", 0), max_value=2**31 - 1)
        options.append(numbers if json_body else numbers.map(str))
    if "JSON object" in schema.get("description", ""):
        options.append(st.dictionaries(text, scalar, max_size=3).map(json.dumps))
    if "example" in schema:
        options.append(st.just(schema["example"]))
    return st.one_of(options) if options else text


def wrong(schema: dict[str, Any], json_body: bool) -> Strategy:
    """Anything a client could send instead."""
    options: list[Strategy] = [text]
    if schema.get("type") == "integer":
        options.append(st.integers(min_value=-(2**40), max_value=2**40).map(str))
    if "JSON object" in schema.get("description", ""):
        options.append(any_json.map(json.dumps))
    if json_body:
        options.append(any_json)
    return st.one_of(options)


def body(template: str, content_type: str, known: dict[str, list[str]]) -> Strategy:
    """A body the description accepts, then zero to two of its fields made wrong or taken out,
    and zero to three fields nobody described added: deep enough to reach every check."""
    schema = SPEC["paths"][template]["post"]["requestBody"]["content"][content_type]["schema"]
    json_body = content_type == "application/json"
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    rights = {name: right(name, prop, known, json_body) for name, prop in properties.items()}
    wrongs = {name: wrong(prop, json_body) for name, prop in properties.items()}
    names = st.sampled_from(sorted(properties))
    extra = st.dictionaries(text, any_json if json_body else text, max_size=3)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        fields = {n: draw(rights[n]) for n in properties if n in required or draw(st.booleans())}
        for name in draw(st.sets(names, max_size=2)):
            if draw(st.booleans()):
                fields.pop(name, None)
            else:
                fields[name] = draw(wrongs[name])
        return {**draw(extra), **fields}

    return build()


def signature(fields: dict[str, str], path: str, token: str, how: str) -> dict[str, str]:
    if how == "unsigned":
        return {}
    signed = twilio_signature(f"{BASE}{path}", fields, token if how == "signed" else token + "x")
    return {"X-Twilio-Signature": signed}


def raw_request(data: bytes, content_type: str, signature_header: str | None) -> dict[str, Any]:
    headers = {"X-Twilio-Signature": signature_header} if signature_header is not None else {}
    return {"data": data, "content_type": content_type, "headers": headers}


raw_bodies = st.tuples(
    st.binary(max_size=300),
    st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]
    ),
    st.none() | header_text,
)


# ---- the endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["taskrouter", "conversations"])
@FUZZ
@given(data=st.data())
def test_webhooks_never_fail_and_queue_only_what_they_accept(receiver, endpoint, data):
    template = f"/webhooks/{endpoint}"
    if data.draw(st.integers(0, 9)) == 0:
        raw = data.draw(raw_bodies)
        receiver.call(template, "post", template, **raw_request(*raw))
        return
    fields = data.draw(receiver.body(template))
    how = data.draw(st.sampled_from(["signed", "signed", "unsigned", "wrong token"]))
    headers = signature(fields, template, receiver.token, how)
    token = data.draw(st.none() | header_text) if endpoint == "conversations" else None
    if token is not None:
        headers["I-Twilio-Idempotency-Token"] = token
    queued = len(receiver.queue.sent)
    response = receiver.call(template, "post", template, data=fields, headers=headers)
    if response.status_code == 204:
        event_id = (fields.get("Sid") if endpoint == "taskrouter" else token) or body_digest(
            f"{BASE}{template}", fields
        )
        new = len(receiver.queue.sent) > queued
        assert new != (event_id in receiver.accepted_ids)  # queued once, then only acknowledged
        receiver.accepted_ids.add(event_id)


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@FUZZ
@given(data=st.data())
def test_transfers_never_fail_and_record_only_what_they_accept(receiver, content_type, data):
    fields = data.draw(receiver.body("/transfers", content_type))
    if content_type == "application/json":
        if data.draw(st.integers(0, 9)) == 0:
            fields = data.draw(any_json)  # not even an object
        receiver.call("/transfers", "post", "/transfers", json=fields)
    elif data.draw(st.integers(0, 9)) == 0:
        raw, kind, _ = data.draw(raw_bodies)
        receiver.call("/transfers", "post", "/transfers", data=raw, content_type=kind)
    else:
        receiver.call("/transfers", "post", "/transfers", data=fields)


@FUZZ
@given(data=st.data())
def test_transfer_status_never_fails(receiver, data):
    anything = st.text(min_size=1, max_size=80) | st.text(alphabet="0123456789abcdef", min_size=32)
    known = st.sampled_from(receiver.transfer_ids) if receiver.transfer_ids else anything
    transfer_id = data.draw(known | anything)
    path = "/transfers/" + quote(transfer_id, safe="")
    response = receiver.client.get(path)
    assert response.status_code < 500, (transfer_id, response.status_code)
    if response.is_json:  # else the router's own answer (404, a redirect for "." and "..")
        receiver.call("/transfers/{transferId}", "get", path)


@FUZZ
@given(data=st.data())
def test_chat_view_never_fails(receiver, data):
    sid_like = st.sampled_from(receiver.known["conversationSid"]) | matching("^CH[0-9a-fA-F]{32}$")
    conversation = data.draw(sid_like | st.text(min_size=1, max_size=40))
    token = data.draw(st.none() | st.sampled_from(receiver.known["Token"]) | header_text)
    where = data.draw(st.sampled_from(["header", "query"]))
    path = "/chats/" + quote(conversation, safe="")
    headers = {"X-Flex-Token": token} if token is not None and where == "header" else {}
    query = {"Token": token} if token is not None and where == "query" else {}
    response = receiver.client.get(path, headers=headers, query_string=query)
    assert response.status_code < 500, (conversation, response.status_code)
    if response.is_json:  # else the router's own answer (404, a redirect for "." and "..")
        receiver.call("/chats/{conversationSid}", "get", path, headers=headers, query_string=query)


@FUZZ
@given(data=st.data())
def test_studio_never_fails_and_queues_only_what_it_accepts(receiver, data):
    fields = data.draw(receiver.body("/studio/track-task"))
    how = data.draw(st.sampled_from(["signed", "signed", "unsigned", "wrong token"]))
    headers = signature(fields, "/studio/track-task", receiver.token, how)
    receiver.call("/studio/track-task", "post", "/studio/track-task", data=fields, headers=headers)


def test_a_json_body_with_a_signature_but_no_body_hash_is_refused(receiver):
    """The fuzz's first find: the twilio library took the JSON text for form parameters (a 500)."""
    for template in ("/webhooks/taskrouter", "/webhooks/conversations"):
        headers = {"X-Twilio-Signature": "0"}
        response = receiver.call(
            template, "post", template, data=b"{}", content_type="application/json", headers=headers
        )
        assert response.status_code == 403


# ---- the Event Streams sink ------------------------------------------------------------------

CLOUDEVENTS = [
    *(taskrouter_event(kind) for kind in ("task.created", "task.completed", "reservation.accepted")),
    *(conversations_event(kind) for kind in ("participant.added", "conversation-state.updated")),
    taskrouter_event("worker.activity.update"),  # a type the service ignores
]


@st.composite
def cloudevent(draw: st.DrawFn) -> Any:
    """One of the valid events, then zero to two of its fields (envelope, data or payload) made
    wrong or taken out; now and then something that is not an event at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(any_json)
    event = json.loads(json.dumps(draw(st.sampled_from(CLOUDEVENTS))))
    event["id"] = draw(st.sampled_from([event["id"], "EZ" + draw(st.binary(min_size=16, max_size=16)).hex()]))
    for _ in range(draw(st.integers(0, 2))):
        places = [event]
        if isinstance(event.get("data"), dict):
            places.append(event["data"])
            if isinstance(event["data"].get("payload"), dict):
                places.append(event["data"]["payload"])
        place = draw(st.sampled_from(places))
        if not place:
            continue
        name = draw(st.sampled_from(sorted(place)))
        if draw(st.booleans()):
            place.pop(name)
        else:
            place[name] = draw(st.sampled_from(JUNK) | any_json)
    return event


@FUZZ
@given(data=st.data())
def test_the_event_streams_sink_never_fails_and_queues_only_what_it_accepts(receiver, data):
    if data.draw(st.integers(0, 9)) == 0:
        raw = data.draw(raw_bodies)
        receiver.call(EVENT_STREAMS, "post", EVENT_STREAMS, **raw_request(*raw))
        return
    batch = data.draw(st.lists(cloudevent(), max_size=4) | cloudevent())
    body = json.dumps(batch)
    how = data.draw(st.sampled_from(["signed", "signed", "signed", "unsigned", "wrong token"]))
    token = receiver.token if how != "wrong token" else receiver.token + "x"
    url, signed = event_streams_signature(f"{BASE}{EVENT_STREAMS}", body, token)
    headers = {"X-Twilio-Signature": signed} if how != "unsigned" else {}
    path = EVENT_STREAMS + url[len(f"{BASE}{EVENT_STREAMS}") :]
    response = receiver.call(
        EVENT_STREAMS, "post", path, data=body, content_type="application/json", headers=headers
    )
    if response.status_code == 200:
        answer = response.get_json()
        events = batch if isinstance(batch, list) else [batch]
        assert answer["queued"] + answer["duplicates"] + answer["ignored"] == len(events)


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@FUZZ
@given(data=st.data())
def test_leave_never_fails_and_queues_only_what_it_accepts(receiver, content_type, data):
    template = "/tasks/{taskSid}/leave"
    any_sid = st.sampled_from(receiver.known["taskSid"]) | matching("^WT[0-9a-fA-F]{32}$") | text
    # "", "." and ".." and a slash (decoded before routing) are the router's to answer: a redirect.
    task_sid = data.draw(any_sid.filter(lambda value: value.strip(".") != "" and "/" not in value))
    path = "/tasks/" + quote(task_sid, safe="") + "/leave"
    fields = data.draw(receiver.body(template, content_type))
    sent = {"json": fields} if content_type == "application/json" else {"data": fields}
    receiver.call(template, "post", path, **sent)
