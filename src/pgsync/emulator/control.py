"""Test controls of the emulator: the request log, injected faults and held requests."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgsync.emulator.app import Request, Response, error_response, json_response

WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})
REDACTED = "<redacted>"
# A match-rule preview is a POST that reads: it changes nothing, and faults treat it as a read.
_READ_ONLY_POSTS = re.compile(r"/policygroups/(stack|account)matchrule/preview$")


def is_write(method: str, path: str) -> bool:
    """Whether a request may change state: a POST, PATCH or DELETE, but not a rule preview."""
    return method in WRITE_METHODS and _READ_ONLY_POSTS.search(path) is None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received, the status it answered (0: none) and any fault;
    `arrived` and `answered` are `time.monotonic()` readings (the benchmark's timeline)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any | None
    status: int
    headers: dict[str, str]
    fault: str | None
    arrived: float
    answered: float


def record(
    request: Request, status: int, fault: str | None = None, *, arrived: float
) -> RecordedRequest:
    """The log entry of a request, answered now: body parsed as JSON when it is, the token
    redacted."""
    body: Any | None = None
    if request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = request.body.decode("utf-8", errors="replace")
    headers = {
        name: REDACTED if name == "authorization" else value
        for name, value in request.headers.items()
    }
    return RecordedRequest(
        request.method,
        request.path,
        dict(request.query),
        body,
        status,
        headers,
        fault,
        arrived,
        time.monotonic(),
    )


@dataclass
class Fault:
    """An answer to give instead of the normal one, to the next `times` matching requests."""

    method: str | None
    path: re.Pattern[str]
    status: int
    headers: Mapping[str, str]
    body: Any
    times: int
    drop_connection: bool
    after_effect: bool

    def matches(self, request: Request) -> bool:
        """Whether this fault applies to `request` (method exact, path by regex search)."""
        method_ok = self.method is None or self.method.upper() == request.method
        return method_ok and self.path.search(request.path) is not None

    def label(self) -> str:
        """What the request log records for this fault, e.g. "injected 503 after effect"."""
        text = "injected " + ("reset" if self.drop_connection else str(self.status))
        return text + (" after effect" if self.after_effect else "")

    def response(self) -> Response | None:
        """The faulty answer; None means: close the connection without answering."""
        if self.drop_connection:
            return None
        if self.body is None:
            if self.status >= 400:
                return error_response(self.status, "Injected fault", self.headers)
            return Response(self.status, b"", self.headers)
        if isinstance(self.body, str):
            # Some edges of the real service answer plain text (API spec, Transport).
            headers = {"Content-Type": "text/plain; charset=utf-8", **self.headers}
            return Response(self.status, self.body.encode(), headers)
        return json_response(self.status, self.body, self.headers)


class FaultQueue:
    """Injected faults, consumed in order of injection."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault behind the ones already injected."""
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(fault)

    def take(self, request: Request) -> Fault | None:
        """The first queued fault matching `request`, used up once; None if none matches."""
        for index, fault in enumerate(self._faults):
            if fault.matches(request):
                fault.times -= 1
                if fault.times == 0:
                    del self._faults[index]
                return fault
        return None


class Hold:
    """Matching requests wait, unanswered, until the test releases them: a test can act while
    a given request is in flight (kill its client, say) without racing a clock."""

    def __init__(self, method: str | None, path: re.Pattern[str]) -> None:
        self.method = method
        self.path = path
        self._changed = threading.Condition()
        self._arrived = 0
        self._unanswered = 0
        self._released = False

    @property
    def released(self) -> bool:
        with self._changed:
            return self._released

    def matches(self, request: Request) -> bool:
        """Whether this hold applies to `request` (method exact, path by regex search)."""
        method_ok = self.method is None or self.method == request.method
        return method_ok and self.path.search(request.path) is not None

    def wait_arrived(self, timeout: float) -> bool:
        """Whether a matching request has arrived, waiting up to `timeout` seconds for one."""
        with self._changed:
            return self._changed.wait_for(lambda: self._arrived > 0, timeout)

    def release(self, timeout: float = 10.0) -> None:
        """Let the held requests through, and return once each is handled and logged."""
        with self._changed:
            self._released = True
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._unanswered == 0, timeout):
                raise TimeoutError(f"held requests still unanswered after {timeout} s")

    def open(self) -> None:
        """Let the held requests through without waiting for their answers (on stop)."""
        with self._changed:
            self._released = True
            self._changed.notify_all()

    def wait_for_release(self) -> None:
        """Called by the server for a matching request: wait until released."""
        with self._changed:
            self._arrived += 1
            self._unanswered += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._released)

    def answered(self) -> None:
        """Called by the server once a held request is handled and logged."""
        with self._changed:
            self._unanswered -= 1
            self._changed.notify_all()
