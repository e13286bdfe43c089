"""The HTTP side of the emulator: one thread per connection, keep-alive, slow bodies.

Built on the standard library's `ThreadingHTTPServer`: zero extra dependencies, real sockets
(clients are exercised through their real transport, timeouts and connection reuse) and one
thread per connection (concurrent clients really run concurrently).
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pgsync.emulator.app import Request, Response, error_response
from pgsync.emulator.faults import Outcome

Answer = Callable[[Request], Outcome]
# A slow body leaves in this many pieces, each after a pause.
SLOW_BODY_PIECES = 4


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
    # Headers and body leave in two writes; with Nagle on, the body waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: HTTPServer

    def _dispatch(self) -> None:
        # Without a valid Content-Length the body's extent is unknown: answer and hang up.
        closing = {"Connection": "close"}
        length = self.headers.get("Content-Length", "0")
        if "Transfer-Encoding" in self.headers:
            self._send(error_response(411, "A Content-Length is required", closing))
            return
        if not length.isdigit():
            self._send(error_response(400, f"Invalid Content-Length '{length}'", closing))
            return
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(int(length)),
        )
        outcome = self.server.answer(request)
        if outcome.response is None:
            self.close_connection = True
            return
        self._send(outcome.response, outcome.body_gap)

    # http.server dispatches on these names; every method goes through the app's router.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

    def _send(self, response: Response, body_gap: float = 0.0) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        # A 204 carries neither a body nor a Content-Length (RFC 9110 §8.6).
        if response.status != 204:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.status == 204:
            return
        if body_gap <= 0:
            self.wfile.write(response.body)
            return
        # Headers are out (end_headers flushed them); the body trickles after them.
        size = max(1, math.ceil(len(response.body) / SLOW_BODY_PIECES))
        for start in range(0, len(response.body), size):
            time.sleep(body_gap)
            self.wfile.write(response.body[start : start + size])

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator keeps its own request log."""
