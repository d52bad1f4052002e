"""The Twilio HTTP client's timeout bounds when a request can leave: a connection made after the
call's deadline is closed unsent (worker/domain/lease.py rests on it; issue 12, defect 1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection

from worker.adapters.http_client import RoutedHttpClient, TwilioTransient


class Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        self.seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"sid": "IM1"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


URL = "https://conversations.twilio.com/v1/Conversations/CH1/Messages"


def test_a_request_leaves_when_the_connection_is_made_in_time(server: str) -> None:
    client = RoutedHttpClient(server, timeout=5.0)
    response = client.request("POST", URL, data={"Body": "hi"}, auth=("AC1", "secret"))
    assert response.status_code == 201
    assert Recorder.seen == ["/conversations/v1/Conversations/CH1/Messages"]


def test_a_connection_made_after_the_deadline_sends_nothing(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = urllib3.util.connection.create_connection

    def slow_connect(*args: object, **kwargs: object) -> object:
        time.sleep(0.5)  # each address tried in turn, DNS, a SYN retransmitted...
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow_connect)
    client = RoutedHttpClient(server, timeout=0.2)
    with pytest.raises(TwilioTransient) as caught:
        client.request("POST", URL, data={"Body": "hi"}, auth=("AC1", "secret"))
    assert caught.value.status is None  # unanswered: its item waits out the settle window
    time.sleep(0.3)
    assert Recorder.seen == []  # and it never left
