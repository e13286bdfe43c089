"""The emulator served over real HTTP on a loopback port, with controls for tests.

Built on the standard library's `ThreadingHTTPServer`: zero extra dependencies, real sockets
(clients are exercised through their real transport, timeouts and connection reuse) and one
thread per connection (concurrent clients really run concurrently). It speaks HTTP/1.1 with
keep-alive like the real service; one lock serializes the state, the request log and the faults.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pgsync.emulator.app import App, Request, Response, error_response
from pgsync.emulator.control import WRITE_METHODS, Fault, FaultQueue, RecordedRequest, record
from pgsync.emulator.fixture import Fixture
from pgsync.emulator.statefile import read_state_file, write_state_file
from pgsync.emulator.views import group_view

Answer = Callable[[Request], Response | None]


class EmulatorServer:
    """The Policy Groups API emulator on a real socket: request log, faults and latency."""

    def __init__(
        self,
        fixture: Fixture,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        page_size: int = 100,
    ) -> None:
        self._state_file = Path(state_file) if state_file is not None else None
        if self._state_file is not None and self._state_file.exists():
            state = read_state_file(self._state_file, fixture)
        else:
            state = fixture.new_state()
        token = token if token is not None else fixture.token
        self._app = App(state, token=token, page_size=page_size)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._faults = FaultQueue()
        self._latency = 0.0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        """Bind (port 0: a free port) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("the emulator is already running")
        self._httpd = _HTTPServer(self._address, self._answer)
        # A short poll interval keeps stop() fast; serving itself does not poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="pgsync-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, idle keep-alive ones included."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321."""
        if self._httpd is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._log)

    def writes(self) -> list[RecordedRequest]:
        """The POST, PATCH and DELETE requests received so far, in order."""
        return [r for r in self.requests if r.method in WRITE_METHODS]

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._log.clear()

    def group(self, org: str, name: str) -> dict[str, Any] | None:
        """The group exactly as GET would return it; None if the org or group is unknown."""
        with self._lock:
            found = self._app.state.orgs.get(org)
            if found is None or name not in found.groups:
                return None
            return group_view(found, found.groups[name])

    def mutate(self, org: str, name: str, update: dict[str, Any]) -> None:
        """Apply one Update object out of band, like a UI change; unlogged; may raise HttpError."""
        with self._lock:
            self._app.state.org(org).update_group(name, [update], single=False)
            self._save()

    def inject_fault(
        self,
        *,
        method: str | None = None,
        path: str = ".*",
        status: int = 500,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        drop_connection: bool = False,
        after_effect: bool = False,
    ) -> None:
        """Answer the next `times` requests matching `method` and `path` (regex) with a fault."""
        # drop_connection: close the socket without an answer. after_effect: perform the real
        # operation first (a write that took effect but reported failure). A body of None gets
        # the JSON error body for 4xx/5xx and nothing otherwise; a str is sent as plain text.
        fault = Fault(
            method.upper() if method else None,
            re.compile(path),
            status,
            dict(headers or {}),
            body,
            times,
            drop_connection,
            after_effect,
        )
        with self._lock:
            self._faults.add(fault)

    def set_latency(self, seconds: float) -> None:
        """Sleep this long before answering every request (0: answer at once)."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._latency = seconds

    def _answer(self, request: Request) -> Response | None:
        # Sleep outside the lock so that slow answers still overlap, as real ones do.
        if self._latency > 0:
            time.sleep(self._latency)
        with self._lock:
            fault = self._faults.take(request)
            response: Response | None = None
            if fault is None or fault.after_effect:
                response = self._app.handle(request)
                # Also after a failed write: a failed batch may have changed state (spec rule 6).
                if request.method in WRITE_METHODS:
                    self._save()
            if fault is not None:
                response = fault.response()
            self._log.append(record(request, 0 if response is None else response.status))
            return response

    def _save(self) -> None:
        if self._state_file is not None:
            write_state_file(self._state_file, self._app.state)


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections on stop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.answer = answer
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

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

    def close_connections(self) -> None:
        """Unblock the threads waiting on keep-alive connections, so they end."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP exchange into a Request for the emulator and writes its Response."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the body waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

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
        response = self.server.answer(request)
        if response is None:
            self.close_connection = True
            return
        self._send(response)

    # http.server dispatches on these names; every method goes through the app's router.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        # A 204 carries neither a body nor a Content-Length (RFC 9110 §8.6).
        if response.status != 204:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.status != 204:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator keeps its own request log."""
