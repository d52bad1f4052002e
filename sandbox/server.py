"""The sandbox's HTTP server: werkzeug's threaded server with keep-alive connections."""

from __future__ import annotations

import contextlib
import io
import socket

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class KeepAliveHandler(WSGIRequestHandler):
    """Keeps a client's connection open between requests (HTTP/1.1 keep-alive), as Twilio's API
    does: a client's pooled connection is used again instead of a new TCP connection per call.
    (Werkzeug's own handler closes every connection, because a WSGI app may leave part of a
    request body unread; this one reads each body whole before the app runs.) The sandbox's
    answers are small and built whole, so each is sent with its Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_request(self, *args, **kwargs) -> None:  # the sandbox records requests itself
        pass

    def setup(self) -> None:
        super().setup()
        self.server.open_connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.open_connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: read to its last chunk
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        started: list = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list, exc_info: object = None):  # type: ignore[no-untyped-def]
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)  # type: ignore[attr-defined]
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            status, headers = started
        except Exception as error:  # a sandbox bug below Flask: answer 500 and close
            self.close_connection = True
            self.server.log("error", f"Error on request: {error!r}")  # type: ignore[attr-defined]
            status, headers, chunks = "500 INTERNAL SERVER ERROR", [], []
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        payload = b"".join(chunks)
        if not (100 <= code < 200 or code in (204, 304)):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)


def make_http_server(host: str, port: int, app) -> BaseWSGIServer:
    """A threaded server for `app` on host:port (0: a free port); not serving yet."""
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.open_connections = set()  # type: ignore[attr-defined]  # kept alive; closed by close_http_server()
    return server


def close_http_server(server: BaseWSGIServer) -> None:
    """Stop serving, close the socket and every connection kept open."""
    server.shutdown()
    server.server_close()
    for connection in list(server.open_connections):  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
