"""The HTTP side of the emulator: one thread per connection, keep-alive, slow bodies.

Built on the standard library's `ThreadingHTTPServer`: zero extra dependencies, real sockets
(clients are exercised through their real transport, timeouts and connection reuse) and one
thread per connection (concurrent clients really run concurrently). The request head is parsed
without the `email` package and the answer sent in one write: the server's CPU per request
must stay small next to the client's it measures.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import socket
import sys
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pgsync.emulator.app import Request, Response, error_response
from pgsync.emulator.faults import Outcome

Answer = Callable[[Request], Outcome]
# A slow body leaves in this many pieces, each after a pause.
SLOW_BODY_PIECES = 4
# The limits of http.client's header parser, which the standard handler uses.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
_VERSIONS = {"HTTP/1.1": False, "HTTP/1.0": True}
"""The request versions read here, and whether they close the connection by default."""
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections on stop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.answer = answer
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent when the client hung up first (it timed out): expected under faults."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Unblock the threads waiting on keep-alive connections, so they end."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """Turns each HTTP exchange into a Request for the emulator and writes its Response."""

    protocol_version = "HTTP/1.1"
    # A slow body leaves in several writes; with Nagle on, each would wait for a delayed ACK.
    disable_nagle_algorithm = True
    server: HTTPServer
    raw_requestline: bytes
    # The request's header fields by lower-case name (a repeated field: its last value).
    fields: dict[str, str]

    def parse_request(self) -> bool:
        """Read the request line and header fields of an HTTP/1.x request.

        Anything else (HTTP/0.9, bad versions or syntax) goes to the standard parser, which
        answers it; so do over-long lines and too many fields here, with its statuses.
        """
        words = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n").split()
        if len(words) != 3 or words[2] not in _VERSIONS:
            parsed = super().parse_request()
            # A refused request line (a TLS handshake, say) leaves no header fields to read.
            headers = self.headers.items() if parsed else ()
            self.fields = {name.lower(): value for name, value in headers}
            return parsed
        self.command, self.path, self.request_version = words
        self.requestline = " ".join(words)
        self.close_connection = _VERSIONS[self.request_version]
        if self.path.startswith("//"):
            # As the standard parser does: '//x' would read as a host, not a path.
            self.path = "/" + self.path.lstrip("/")
        fields = self._read_fields()
        if fields is None:
            return False
        self.fields = fields
        connection = fields.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = fields.get("expect", "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _read_fields(self) -> dict[str, str] | None:
        """The header fields up to the blank line; None once an error answer is sent."""
        fields: dict[str, str] = {}
        last = ""
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(raw) > MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return None
            line = str(raw, "iso-8859-1").rstrip("\r\n")
            if not line:
                return fields
            if line[0] in " \t" and last:
                # An obsolete folded line continues the field before it.
                fields[last] += " " + line.strip(" \t")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad header line {line[:100]!r}")
                return None
            last = name.lower()
            fields[last] = value.strip(" \t")
        self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
        return None

    def _dispatch(self) -> None:
        # Without a valid Content-Length the body's extent is unknown: answer and hang up.
        closing = {"Connection": "close"}
        length = self.fields.get("content-length", "0")
        if "transfer-encoding" in self.fields:
            self._send(error_response(411, "A Content-Length is required", closing))
            return
        if not length.isdigit():
            self._send(error_response(400, f"Invalid Content-Length '{length}'", closing))
            return
        target = self.path
        if target.startswith("/") and "#" not in target:
            # The origin form every client sends: what urlsplit would make of it, cheaper.
            path, _, query = target.partition("?")
        else:
            url = urlsplit(target)
            path, query = url.path, url.query
        request = Request(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=self.fields,
            body=self.rfile.read(int(length)),
        )
        outcome = self.server.answer(request)
        if outcome.response is None:
            self.close_connection = True
            return
        self._send(outcome.response, outcome.body_gap)

    # http.server dispatches on these names; every method goes through the app's router.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

    def _send(self, response: Response, body_gap: float = 0.0) -> None:
        lines = [
            f"{self.protocol_version} {response.status} {_REASONS.get(response.status, '')}",
            f"Server: {self.version_string()}",
            f"Date: {_http_date(int(time.time()))}",
        ]
        for name, value in response.headers.items():
            lines.append(f"{name}: {value}")
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
        if self.close_connection and "Connection" not in response.headers:
            # Said, so that the client does not send its next request on this connection.
            lines.append("Connection: close")
        # A 204 carries neither a body nor a Content-Length (RFC 9110 §8.6); the answer to a
        # HEAD has the length of the GET's body, but not the body.
        body = response.body
        if response.status == 204:
            body = b""
        else:
            lines.append(f"Content-Length: {len(body)}")
            if self.command == "HEAD":
                body = b""
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body_gap <= 0 or not body:
            self.wfile.write(head + body)
            return
        # The head goes out first; the body trickles after it.
        self.wfile.write(head)
        size = max(1, math.ceil(len(body) / SLOW_BODY_PIECES))
        for start in range(0, len(body), size):
            time.sleep(body_gap)
            self.wfile.write(body[start : start + size])

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator keeps its own request log."""


@lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    """The Date field of answers given during this second."""
    return email.utils.formatdate(second, usegmt=True)
