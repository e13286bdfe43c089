"""The HTTP seam: one httpx client per run, retries with backoff, error mapping, redaction."""

from __future__ import annotations

import contextvars
import ipaddress
import json
import logging
import random
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpx._utils import get_environment_proxies

from pgsync import __version__
from pgsync.accesstoken import REDACTED, TOKEN_ENV
from pgsync.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    BadResponse,
    PgsyncError,
    TransportError,
)
from pgsync.scrub import escape, scrub

log = logging.getLogger("pgsync.client")

ACCEPT = "application/vnd.pulumi+8"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest answer read, after decompression: about 50 times a group of 10,000 stacks."""
REQUEST_DEADLINE = 60.0
"""Seconds one attempt may take from sending to the last byte of the answer, however it trickles."""
ACCEPT_ENCODING = "gzip, deflate"
"""Only what `_read_body` inflates itself, within the size limit."""


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


class _Unusable(Exception):
    """The answer could not be read whole: too large, too slow or wrongly encoded."""

    def __init__(self, reason: str, *, deadline: bool = False) -> None:
        super().__init__(reason)
        self.deadline = deadline


def _inflater(response: httpx.Response) -> Any:
    """A zlib decompressor for the answer's Content-Encoding; None for an unencoded body."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise _Unusable(f"the body is encoded as {encoding!r}, which pgsync did not ask for")


_INFLATE_STEP = 1 << 20
"""Bytes inflated per step: zlib builds one step's output in blocks and then copies it."""


def _read_body(response: httpx.Response, limit: int) -> bytes:
    """The whole body, decoded, refused once it passes `limit` bytes (the network backend
    stops it at the deadline).

    Decompression is done here, in steps of at most what the limit still allows, so that a
    small compressed body cannot inflate to gigabytes in memory (httpx's decoder would).
    """
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise _Unusable(f"the body would be {int(length):,} bytes, over the limit of {limit:,}")
    inflate = _inflater(response)
    parts: list[bytes] = []
    size = 0
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                if inflate is None:
                    out, data = data, b""
                else:
                    out = inflate.decompress(data, min(limit - size + 1, _INFLATE_STEP))
                    data = inflate.unconsumed_tail
                size += len(out)
                if size > limit:
                    raise _Unusable(f"the body is over the limit of {limit:,} bytes")
                parts.append(out)
        if inflate is not None:
            out = inflate.flush()
            if size + len(out) > limit:
                raise _Unusable(f"the body is over the limit of {limit:,} bytes")
            parts.append(out)
    except zlib.error as error:
        raise _Unusable(f"the compressed body is corrupt ({error})") from None
    return b"".join(parts)


_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pgsync_request_deadline", default=None
)
"""The `time.monotonic()` by which the request this thread is sending must be answered."""


def _past_deadline() -> _Unusable:
    return _Unusable("the answer did not arrive in time", deadline=True)


def _within_deadline(timeout: float | None) -> tuple[float | None, bool]:
    """The timeout for one network operation, and whether it is the deadline's rather than
    the configured one (so that a timeout then means the deadline has passed)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout, False
    left = deadline - time.monotonic()
    if left <= 0:
        raise _past_deadline()
    if timeout is not None and timeout < left:
        return timeout, False
    return left, True


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the deadline of its request.

    httpcore gives each read the same timeout, so a server that sends a byte just before it
    runs out (headers included) would otherwise never be stopped.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, by_deadline = _within_deadline(timeout)
        try:
            return self._stream.read(max_bytes, limit)
        except httpcore.TimeoutException:
            if by_deadline:
                raise _past_deadline() from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, by_deadline = _within_deadline(timeout)
        try:
            self._stream.write(buffer, limit)
        except httpcore.TimeoutException:
            if by_deadline:
                raise _past_deadline() from None
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit, by_deadline = _within_deadline(timeout)
        try:
            return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit))
        except httpcore.TimeoutException:
            if by_deadline:
                raise _past_deadline() from None
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, each wrapped in a `_DeadlineStream`."""

    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        limit, by_deadline = _within_deadline(timeout)
        try:
            stream = self._sockets.connect_tcp(host, port, limit, local_address, socket_options)
        except httpcore.TimeoutException:
            if by_deadline:
                raise _past_deadline() from None
            raise
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
"""httpcore's errors and the httpx ones httpx.HTTPTransport raises for them, subclasses first."""
_HTTPCORE_ERRORS = tuple(core for core, _ in _HTTPX_ERRORS)


def _as_httpx(error: Exception) -> httpx.TransportError:
    mapped = next(ours for core, ours in _HTTPX_ERRORS if isinstance(error, core))
    return mapped(str(error))


class _AnswerStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _HTTPCORE_ERRORS as error:
            raise _as_httpx(error) from error

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _DeadlineTransport(httpx.BaseTransport):
    """httpx.HTTPTransport's work (direct or through one proxy) on a `_DeadlineBackend`,
    which httpx.HTTPTransport has no parameter for."""

    def __init__(
        self, verify: ssl.SSLContext | bool, limits: httpx.Limits, proxy: httpx.Proxy | None = None
    ) -> None:
        # trust_env as httpx's default: SSL_CERT_FILE and SSL_CERT_DIR are honoured.
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)
        backend = _DeadlineBackend()
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )
            return
        proxy_url = httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        )
        if proxy.url.scheme in ("http", "https"):
            self._pool = httpcore.HTTPProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                ssl_context=ssl_context,
                proxy_ssl_context=proxy.ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )
        else:  # socks5:// or socks5h://, the only other schemes httpx.Proxy accepts
            self._pool = httpcore.SOCKSProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy.raw_auth,
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._pool.handle_request(core)
        except _HTTPCORE_ERRORS as error:
            raise _as_httpx(error) from error
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_AnswerStream(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _proxy_mounts(
    verify: ssl.SSLContext | bool, limits: httpx.Limits
) -> dict[str, httpx.BaseTransport | None]:
    """The proxies httpx.Client would take from the environment (None: go direct).

    httpx's own reading of HTTP(S)_PROXY, ALL_PROXY and NO_PROXY, so that the proxies used
    are the ones httpx.Client picks when it builds its transports itself.
    """
    return {
        pattern: None if url is None else _DeadlineTransport(verify, limits, httpx.Proxy(url))
        for pattern, url in get_environment_proxies().items()
    }


def _certificate_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a connect error, if that is what it was."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _json_media_type(response: httpx.Response) -> str:
    media: str = response.headers.get("Content-Type", "no Content-Type")
    return media.partition(";")[0].strip()


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
        deadline: float = REQUEST_DEADLINE,
        max_body: int = MAX_BODY_BYTES,
        verify: ssl.SSLContext | bool = True,
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
        self.deadline = deadline
        self.max_body = max_body
        headers = {
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
            "Content-Type": "application/json",
            "User-Agent": f"pgsync/{__version__}",
        }
        if token:
            headers["Authorization"] = f"token {token}"
        limits = httpx.Limits(
            max_connections=self.parallelism, max_keepalive_connections=self.parallelism
        )
        mounts: dict[str, httpx.BaseTransport | None] = {}
        if transport is None:
            transport = _DeadlineTransport(verify, limits)
            # Loopback takes no proxy from the environment (HTTP_PROXY, …): a proxy would
            # see a plain-HTTP request, token and all. Elsewhere proxies are honoured, and
            # https:// goes through them in a CONNECT tunnel, TLS end to end.
            if not is_loopback(base_url):
                mounts = _proxy_mounts(verify, limits)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            mounts=mounts,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """`text` without the token or any secret value known to the run."""
        return scrub(text.replace(self._token, REDACTED) if self._token else text)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: retried on connection errors, timeouts, 429 and 502/503/504.

        Its answer must be a 200 with a JSON body (any JSON value: the caller checks its
        shape); anything else is BadResponse.
        """
        return self._json("GET", path, *self._send("GET", path, params=params, body=None))

    def query(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        """A POST that only reads (a preview): retried like a read, since it changes nothing."""
        return self._json("POST", path, *self._send("POST", path, params=params, body=body))

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

    def _json(self, method: str, path: str, response: httpx.Response, data: bytes) -> Any:
        if response.status_code != 200:
            raise BadResponse(
                f"{method} {path}: the API answered HTTP {response.status_code} "
                f"{'with no body' if not data else 'with a body'}; expected 200 with JSON"
            )
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as error:
            # The message says where parsing failed, never what the body holds.
            reason = str(error) if isinstance(error, json.JSONDecodeError) else "nested too deep"
            raise BadResponse(
                f"{method} {path}: the API's answer (HTTP 200, {_json_media_type(response)}) "
                f"is not JSON: {reason}"
            ) from None

    def _exchange(
        self, method: str, path: str, params: Mapping[str, str] | None, content: bytes | None
    ) -> tuple[httpx.Response, bytes]:
        """One attempt: the answer's head and its whole body, within the size and time limits."""
        reset = _DEADLINE.set(time.monotonic() + self.deadline)
        try:
            request = self._http.build_request(method, path, params=params, content=content)
            response = self._http.send(request, stream=True)
            try:
                return response, _read_body(response, self.max_body)
            finally:
                response.close()
        finally:
            _DEADLINE.reset(reset)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: Any,
        write: bool = False,
    ) -> tuple[httpx.Response, bytes]:
        waited = 0.0
        content = _encode(body)
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            if self._pace is not None:
                self._pace.wait()
            try:
                response, data = self._exchange(method, path, params, content)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure = _certificate_failure(error)
                if failure is not None:
                    # The same certificate fails the same way again: retrying only waits.
                    raise TransportError(
                        f"{method} {path}: TLS certificate verification failed "
                        f"({failure.verify_message or failure.reason}); not retried: check "
                        "the API URL and the trusted CAs (SSL_CERT_FILE)"
                    ) from None
                # Never reached the server: safe to retry, write or not.
                reason = f"cannot connect: {self.redact(str(error)) or type(error).__name__}"
                delay = None
            except _Unusable as error:
                if write:
                    raise AmbiguousWriteError(method, path, str(error)) from None
                if error.deadline:
                    raise TransportError(
                        f"{method} {path}: no complete answer within {self.deadline:g} s "
                        "(the deadline of one request); not retried"
                    ) from None
                raise BadResponse(f"{method} {path}: unusable answer: {error}") from None
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
                    return response, data
                status = response.status_code
                message = self._api_message(_with_body(response, data))
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
        """The API's own message on one line: JSON `message` when there is one, else the body.

        Secrets go before the cut, so that no part of one is left at the end.
        """
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = self.redact(body["message"])
        else:
            text = self.redact(response.text.strip())[:500] or response.reason_phrase
        return escape(text)


def _with_body(response: httpx.Response, data: bytes) -> httpx.Response:
    """A closed, streamed answer as a plain one holding its (already decoded) body."""
    headers = {"Content-Type": response.headers.get("Content-Type", "")}
    return httpx.Response(
        response.status_code, headers=headers, content=data, request=response.request
    )
