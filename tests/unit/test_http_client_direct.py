"""The Twilio HTTP client sends with urllib3 what requests would send: the same request on the wire."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from twilio.http.http_client import TwilioHttpClient

from worker.adapters.http_client import RoutedHttpClient, TwilioTransient

ANSWER = '{"sid": "WT1", "name": "Zoë"}'.encode()
TWILIO_HEADERS = {
    "User-Agent": "twilio-python/9 (Linux x86_64) Python/3.11",
    "X-Twilio-Client": "python-9",
    "Accept-Charset": "utf-8",
    "Accept": "application/json",
}
AUTH = ("AC" + "a" * 32, "tøken")


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request as it arrived (method, path, headers, body) and answers JSON."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.seen.append((self.command, self.path, headers, body))
        self.send_response(429 if self.path.startswith("/busy") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "2")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def through_requests(server: str, *call: object, **options: object) -> tuple[object, ...]:
    client = TwilioHttpClient(timeout=5)
    client.session.trust_env = False  # type: ignore[union-attr]  # the environment is not under test
    Recorder.seen.clear()
    response = client.request(*call, **options)  # type: ignore[arg-type]
    return (*Recorder.seen[0], response.status_code, response.text, response.headers.get("retry-after"))


def through_direct(server: str, *call: object, **options: object) -> tuple[object, ...]:
    client = RoutedHttpClient(timeout=5)
    assert client.direct is not None
    Recorder.seen.clear()
    response = client.direct.send(*call, **options)  # type: ignore[arg-type]
    return (*Recorder.seen[0], response.status_code, response.text, response.headers.get("retry-after"))


CALLS = [
    ("GET", "/v1/Workspaces/WS1/Tasks/WT1", None, {}),
    (
        "GET",
        "/v1/Workspaces/WS1/Tasks",
        {
            "AssignmentStatus": ["pending", "reserved"],
            "EvaluateTaskAttributes": 'conversationSid == "CH1" OR channelSid == "CH1"',
            "PageSize": 50,
            "Ordering": None,
        },
        {},
    ),
    (
        "POST",
        "/v1/Workspaces/WS1/Tasks",
        None,
        {"Attributes": '{"name": "Zoë", "n": [1, 2]}', "Priority": 5, "Timeout": None, "Flag": "true"},
    ),
    ("POST", "/v1/Conversations/CH1", None, {"State": "closed", "Filters": ["onA", "onB"]}),
    ("POST", "/v1/Conversations/CH1/Messages", None, {}),
    ("DELETE", "/v1/Workspaces/WS1/Tasks/WT1", None, None),
]


@pytest.mark.parametrize(("method", "path", "params", "data"), CALLS)
def test_the_same_request_and_answer_as_through_requests(server, method, path, params, data):
    headers = dict(TWILIO_HEADERS)
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if method == "DELETE":
        del headers["Accept"]
    call = (method, server + path, params, data, headers, AUTH, None)
    expected = through_requests(server, *call[:6], timeout=None)
    assert through_direct(server, *call) == expected


def test_a_json_body_as_through_requests(server):
    headers = {**TWILIO_HEADERS, "Content-Type": "application/json"}
    routing = {"properties": {"workspace_sid": "WS1", "attributes": {"a": "ü"}}}
    call = ("POST", server + "/v1/Interactions", None, {"Routing": routing}, headers, AUTH, None)
    assert through_direct(server, *call) == through_requests(server, *call[:6], timeout=None)


def test_the_last_request_and_answer_are_kept_as_the_twilio_library_keeps_them(server):
    client = RoutedHttpClient(timeout=5)
    client.request("GET", server + "/v1/X", params={"A": "1"}, headers=dict(TWILIO_HEADERS), auth=AUTH)
    request, response = client._test_only_last_request, client._test_only_last_response
    assert request is not None and response is not None
    assert (request.method, request.url) == ("GET", server + "/v1/X")
    assert (request.auth, request.params) == (AUTH, {"A": "1"})
    assert response.text == ANSWER.decode()


def test_no_answer_and_429_are_transient(server):
    from worker.embedded_redis import free_port

    client = RoutedHttpClient(timeout=2)
    with pytest.raises(TwilioTransient) as refused:
        client.request("GET", f"http://127.0.0.1:{free_port()}/v1/X", headers=dict(TWILIO_HEADERS), auth=AUTH)
    assert refused.value.status is None
    with pytest.raises(TwilioTransient) as busy:
        client.request("GET", server + "/busy", headers=dict(TWILIO_HEADERS), auth=AUTH)
    assert (busy.value.status, busy.value.retry_after) == (429, 2.0)
