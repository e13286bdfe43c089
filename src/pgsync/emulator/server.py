"""The emulator served over real HTTP on a loopback port, with controls for tests.

It speaks HTTP/1.1 with keep-alive like the real service (see `httpd`); one lock serializes
the state, the request log and the faults.
"""

from __future__ import annotations

import math
import os
import random
import re
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from pgsync.emulator.app import App, Request, Response, error_response
from pgsync.emulator.control import Fault, FaultQueue, Hold, RecordedRequest, is_write, record
from pgsync.emulator.faults import Draw, FaultInjector, FaultMix, Outcome, RateLimiter, jittered
from pgsync.emulator.fixture import Fixture
from pgsync.emulator.httpd import HTTPServer
from pgsync.emulator.state import Api, HttpError
from pgsync.emulator.statefile import check_state_path, read_state_file, write_state_file
from pgsync.emulator.views import group_view


class EmulatorServer:
    """The Policy Groups API emulator on a real socket: request log, faults and latency.

    `faults` (default: the fixture's) makes requests fail at random; see `FaultMix`. `api`
    (default: the state file's, else the fixture's) is the service generation to speak.
    `rate_limit` answers 429 (with Retry-After) to requests beyond that many per second.
    """

    def __init__(
        self,
        fixture: Fixture,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        page_size: int = 100,
        faults: FaultMix | None = None,
        rate_limit: float | None = None,
        api: Api | None = None,
    ) -> None:
        self._state_file = Path(state_file) if state_file is not None else None
        if self._state_file is not None:
            check_state_path(self._state_file)
        if self._state_file is not None and self._state_file.exists():
            state = read_state_file(self._state_file, fixture)
        else:
            state = fixture.new_state()
        token = token if token is not None else fixture.token
        self._app = App(state, token=token, page_size=page_size, api=api)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._faults = FaultQueue()
        self._holds: list[Hold] = []
        mix = faults if faults is not None else fixture.faults
        self._injector = FaultInjector(mix) if mix is not None else None
        self._limiter = RateLimiter(rate_limit) if rate_limit else None
        self._latency = (0.0, 0.0)
        self._latency_rng = random.Random(0)
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        """Bind (port 0: a free port) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("the emulator is already running")
        self._httpd = HTTPServer(self._address, self._answer)
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
        with self._lock:
            holds, self._holds = self._holds, []
        for held in holds:
            held.open()
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
        """The POST, PATCH and DELETE requests received so far, in order (previews read)."""
        return [r for r in self.requests if is_write(r.method, r.path)]

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
            self._app.groups_changed()
            self._app.state.org(org).update_group(name, [update], single=False)
            self._save()

    def group_counts(self) -> dict[str, int]:
        """How many policy groups each organization has now, default groups included."""
        with self._lock:
            return {name: len(org.groups) for name, org in self._app.state.orgs.items()}

    @property
    def wants_token(self) -> bool:
        """Whether requests must carry the access token (given to the server or the fixture)."""
        return self._app.token is not None

    @property
    def api(self) -> Api:
        """The service generation the emulator speaks."""
        with self._lock:
            return self._app.state.api

    def set_stack_tags(self, org: str, stack: str, tags: dict[str, str]) -> None:
        """Replace the tags of stack "project/stack", as a `pulumi stack tag` would; 404 if unknown.

        Rule memberships follow at once.
        """
        project, _, name = stack.partition("/")
        with self._lock:
            found = self._app.state.org(org).stacks.get((project, name))
            if found is None:
                raise HttpError(404, f"Stack '{stack}' not found")
            found.tags = dict(tags)
            self._app.catalog_changed()
            self._save()

    def set_account_tags(self, org: str, account: str, tags: dict[str, str]) -> None:
        """Replace the tags of an Insights account; 404 if unknown. Rule memberships follow."""
        with self._lock:
            found = self._app.state.org(org).accounts.get(account)
            if found is None:
                raise HttpError(404, f"Insights account '{account}' not found")
            found.tags = dict(tags)
            self._app.catalog_changed()
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

    def hold(self, *, method: str | None = None, path: str = ".*") -> Hold:
        """Keep requests matching `method` and `path` (regex) unanswered until `release()`.

        They wait before anything else happens to them (rate limit, latency, faults): held
        and released, a request is answered as it would have been.
        """
        held = Hold(method.upper() if method else None, re.compile(path))
        with self._lock:
            self._holds.append(held)
        return held

    @property
    def faults(self) -> FaultMix | None:
        """The random fault mix in force, if any."""
        with self._lock:
            return self._injector.mix if self._injector is not None else None

    def set_faults(self, mix: FaultMix | None) -> None:
        """Make requests fail at random from now on (its seed starts afresh); None: stop."""
        with self._lock:
            self._injector = FaultInjector(mix) if mix is not None else None

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        """Sleep `seconds` ± up to `jitter` (uniform, seeded) before handling every request.

        This adds to the latency of a fault mix; 0 answers at once.
        """
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        with self._lock:
            self._latency = (seconds, jitter)
            self._latency_rng = random.Random(seed)

    def _answer(self, request: Request) -> Outcome:
        arrived = time.monotonic()
        with self._lock:
            self._holds = [held for held in self._holds if not held.released]
            held = next((h for h in self._holds if h.matches(request)), None)
        if held is None:
            return self._answer_now(request, arrived)
        held.wait_for_release()
        try:
            return self._answer_now(request, arrived)
        finally:
            held.answered()

    def _answer_now(self, request: Request, arrived: float) -> Outcome:
        with self._lock:
            wait = self._limiter.take(time.monotonic()) if self._limiter is not None else 0.0
            if wait > 0:
                response = error_response(
                    429, "Too many requests", {"Retry-After": str(max(1, math.ceil(wait)))}
                )
                self._log.append(record(request, 429, "rate-limit", arrived=arrived))
                return Outcome(response, "rate-limit")
            injector = self._injector
            draw = injector.draw(request) if injector is not None else None
            delay = jittered(self._latency_rng, *self._latency)
        delay += draw.delay if draw is not None else 0.0
        # Sleep outside the lock so that slow answers still overlap, as real ones do.
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            outcome = self._outcome(request, injector, draw)
            status = 0 if outcome.response is None else outcome.response.status
            self._log.append(record(request, status, outcome.fault, arrived=arrived))
        if outcome.hang > 0:
            time.sleep(outcome.hang)
        return outcome

    def _outcome(
        self, request: Request, injector: FaultInjector | None, draw: Draw | None
    ) -> Outcome:
        # A queued fault wins over the mix: a test that injects one means that very request.
        fault = self._faults.take(request)
        if fault is not None:
            if fault.after_effect:
                self._handle(request)
            return Outcome(fault.response(), fault.label())
        if injector is None or draw is None:
            return Outcome(self._handle(request))
        return injector.outcome(draw, request, lambda: self._handle(request))

    def _handle(self, request: Request) -> Response:
        response = self._app.handle(request)
        # Also after a failed write: a failed batch may have changed state (spec rule 6).
        if is_write(request.method, request.path):
            self._save()
        return response

    def _save(self) -> None:
        if self._state_file is not None:
            write_state_file(self._state_file, self._app.state)
