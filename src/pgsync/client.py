"""The HTTP seam: one httpx client per run, retries with backoff, error mapping, redaction."""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from pgsync import __version__
from pgsync.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    PgsyncError,
    TransportError,
)

log = logging.getLogger("pgsync.client")

ACCEPT = "application/vnd.pulumi+8"
TOKEN_ENV = "PULUMI_ACCESS_TOKEN"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `max_total_wait` bounds the sleeping per request."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class TokenFilter(logging.Filter):
    """Scrubs the token from every log record, whatever logger wrote it (httpx included)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, REDACTED)
            record.args = None
        return True


class Pacer:
    """Spaces requests at least 1/rate apart across threads: under the API's limit, not at it.

    A slot is reserved under the lock and waited for outside it, so waiting threads keep
    their order without holding each other up.
    """

    def __init__(self, rate: float, sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / rate
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def _encode(body: Any) -> bytes | None:
    """JSON bytes of a request body; values JSON cannot carry are an error, not a crash."""
    if body is None:
        return None
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as error:
        raise PgsyncError(f"request body is not valid JSON: {error}") from None


class Client:
    """All HTTP to the Policy Groups API goes through `request`."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        parallelism: int = 8,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        max_rps: float | None = None,
    ) -> None:
        if token and not (token.isascii() and token.isprintable() and token == token.strip()):
            # httpx would quote the header value in its error (unredactable) or crash.
            raise PgsyncError(
                f"{TOKEN_ENV} holds characters a token cannot have (spaces, control characters "
                "or non-ASCII); check how it is set"
            )
        if token and urlsplit(base_url).scheme != "https" and not is_loopback(base_url):
            raise PgsyncError(
                f"refusing to send the access token over plain HTTP to {base_url}; use https://"
            )
        self.base_url = base_url.rstrip("/")
        self.parallelism = max(1, parallelism)
        self.retry = retry or RetryPolicy()
        self._token = token or ""
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._pace = Pacer(max_rps, sleep) if max_rps else None
        headers = {
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "User-Agent": f"pgsync/{__version__}",
        }
        if token:
            headers["Authorization"] = f"token {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=self.parallelism, max_keepalive_connections=self.parallelism
            ),
            transport=transport,
            verify=True,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED) if self._token else text

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: retried on connection errors, timeouts, 429 and 502/503/504."""
        response = self._send("GET", path, params=params, body=None, write=False)
        return response.json() if response.content else None

    def query(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        """A POST that only reads (a preview): retried like a read, since it changes nothing."""
        response = self._send("POST", path, params=params, body=body, write=False)
        return response.json() if response.content else None

    def get_or_none(self, path: str) -> Any:
        """A read where 404 means "not there" rather than an error."""
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def write(self, method: str, path: str, body: Any = None) -> None:
        """A write: retried only where it provably did not take effect (contract §5)."""
        self._send(method, path, params=None, body=body, write=True)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: Any,
        write: bool,
    ) -> httpx.Response:
        waited = 0.0
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            if self._pace is not None:
                self._pace.wait()
            try:
                response = self._http.request(method, path, params=params, content=_encode(body))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                # Never reached the server: safe to retry, write or not.
                reason = f"cannot connect: {self.redact(str(error)) or type(error).__name__}"
                delay = None
            except httpx.LocalProtocolError as error:
                # Our own request was malformed: it never left, and a retry would fail alike.
                raise TransportError(
                    f"{method} {path}: cannot send: {type(error).__name__}"
                ) from None
            except httpx.TransportError as error:
                reason = f"{type(error).__name__}: {self.redact(str(error))}".rstrip(": ")
                if write:
                    raise AmbiguousWriteError(method, path, reason) from None
                delay = None
            else:
                if response.is_success:
                    return response
                status = response.status_code
                message = self._api_message(response)
                retryable = status == 429 or (not write and status in RETRY_STATUSES)
                if not retryable:
                    if write and status >= 500:
                        raise AmbiguousWriteError(method, path, f"HTTP {status}: {message}")
                    error_class = AuthError if status in (401, 403) else ApiError
                    raise error_class(method, path, status, message)
                reason = f"HTTP {status}: {message}"
                delay = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            if last:
                break
            with self._rng_lock:
                backoff = self.retry.backoff(attempt, self._rng)
            wait = delay if delay is not None else backoff
            if waited + wait > self.retry.max_total_wait:
                break
            log.info("%s %s: %s; retrying in %.1fs", method, path, reason, wait)
            self._sleep(wait)
            waited += wait
        raise TransportError(f"{method} {path}: giving up after {attempt + 1} attempts: {reason}")

    def _api_message(self, response: httpx.Response) -> str:
        """The API's own message: JSON `message` when there is one, else the raw body."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = body["message"]
        else:
            text = response.text.strip()[:500] or response.reason_phrase
        return self.redact(text)
