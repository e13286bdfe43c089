"""The HTTP seam: one set of connections per run, retries with backoff, error mapping, redaction.

Requests go to httpcore, httpx's own transport, as httpx.HTTPTransport would send them, but not
through httpx.Client, whose per-request work (URL parsing and merging, header and cookie
objects, auth and redirect hooks, a pool that checks every connection) made each read cost
about three times the CPU it costs here.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, Protocol, TypeVar, cast
from urllib.parse import urlencode, urlsplit

import httpcore
import httpx

from pgsync import __version__
from pgsync.core.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    BadResponse,
    PgsyncError,
    TransportError,
)
from pgsync.core.escaping import escape
from pgsync.core.masking import scrub
from pgsync.remote.accesstoken import TOKEN_ENV, redact_token

log = logging.getLogger("pgsync.remote.client")
_E = TypeVar("_E", bound=BaseException)
_REQUEST_LOG = logging.getLogger("httpx")
"""httpx.Client's logger: `-v` shows each request sent, on the same line httpx.Client wrote."""

ACCEPT = "application/vnd.pulumi+8"
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
"""What a read is retried on; a write only on 429. A 408 asks for the request again on a new
connection (RFC 9110), and is what a server may write unasked on an idle one."""
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest answer read, after decompression: about 50 times a group of 10,000 stacks."""
REQUEST_DEADLINE = 60.0
"""Seconds one attempt may take from sending to the last byte of the answer, however it trickles."""
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection: an API that is up accepts in well under one."""
READ_TIMEOUT = 30.0
"""Seconds to wait for each read (and write) of an attempt."""
ACCEPT_ENCODING = "gzip, deflate"
"""Only what `_read_body` inflates itself, within the size limit."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `max_total_wait` bounds the sleeping per request,
    `max_elapsed` the time from its first attempt after which no retry is begun."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    max_elapsed: float = 60.0

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


Headers = Sequence[tuple[bytes, bytes]]
"""An answer's headers as httpcore gives them: (name, value) pairs, names in any case."""


def _header(headers: Headers, name: bytes) -> str:
    """The value of header `name` (lower case), "" when absent; repeats joined as httpx does."""
    values = [value for key, value in headers if key.lower() == name]
    return b", ".join(values).decode("latin-1")


def _inflater(encoding: str) -> Any:
    """A zlib decompressor for a Content-Encoding; None for an unencoded body."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise _Unusable(f"the body is encoded as {encoding!r}, which pgsync did not ask for")


_INFLATE_STEP = 1 << 20
"""Bytes inflated per step: zlib builds one step's output in blocks and then copies it."""


def _read_body(headers: Headers, stream: Iterable[bytes], limit: int) -> bytes:
    """The whole body, decoded, refused once it passes `limit` bytes (the network backend
    stops it at the deadline).

    Decompression is done here, in steps of at most what the limit still allows, so that a
    small compressed body cannot inflate to gigabytes in memory (httpx's decoder would).
    """
    length = _header(headers, b"content-length")
    if length.isdigit() and int(length) > limit:
        raise _Unusable(f"the body would be {int(length):,} bytes, over the limit of {limit:,}")
    inflate = _inflater(_header(headers, b"content-encoding"))
    parts: list[bytes] = []
    size = 0
    try:
        for raw in stream:
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
_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("pgsync_writing", default=False)
"""Whether the request this thread is sending is a write (`Client.write`), retried and
checked as one."""


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

    A `direct` stream is httpcore's own over a socket (plain or TLS): that socket is read and
    written here as httpcore would, less the exception-mapping context manager it enters on
    every call. TLS within a proxy's TLS is left to httpcore.
    """

    def __init__(
        self, stream: httpcore.NetworkStream, *, direct: bool, kernel_state: bool = True
    ) -> None:
        self._stream = stream
        self._sock: socket.socket | None = stream.get_extra_info("socket") if direct else None
        self._kernel_state = kernel_state and _TCP_INFO is not None
        self._timeout = self._sock.gettimeout() if self._sock is not None else None

    def _set_timeout(self, sock: socket.socket, limit: float | None) -> None:
        # A system call that lets every other thread take the interpreter: skipped while the
        # configured timeout, the same for every operation, governs (not the deadline).
        if limit != self._timeout:
            sock.settimeout(limit)
            self._timeout = limit

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, by_deadline = _within_deadline(timeout)
        try:
            if self._sock is None:
                return self._stream.read(max_bytes, limit)
            self._set_timeout(self._sock, limit)
            return self._sock.recv(max_bytes)
        except (TimeoutError, httpcore.TimeoutException) as error:
            if by_deadline:
                raise _past_deadline() from None
            if isinstance(error, TimeoutError):
                raise httpcore.ReadTimeout(error) from error
            raise
        except OSError as error:
            raise httpcore.ReadError(error) from error

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        limit, by_deadline = _within_deadline(timeout)
        try:
            if self._sock is None:
                self._stream.write(buffer, limit)
                return
            self._set_timeout(self._sock, limit)
            self._sock.sendall(buffer)
        except (TimeoutError, httpcore.TimeoutException) as error:
            if by_deadline:
                raise _past_deadline() from None
            if isinstance(error, TimeoutError):
                raise httpcore.WriteTimeout(error) from error
            raise
        except OSError as error:
            raise httpcore.WriteError(error) from error

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
            stream = self._stream.start_tls(ssl_context, server_hostname, limit)
        except httpcore.TimeoutException:
            if by_deadline:
                raise _past_deadline() from None
            raise
        # TLS over a plain socket is an SSLSocket; TLS within TLS is not a socket at all.
        plain = self._sock is not None and not isinstance(self._sock, ssl.SSLSocket)
        return _DeadlineStream(stream, direct=plain, kernel_state=self._kernel_state)

    def get_extra_info(self, info: str) -> Any:
        # httpcore asks before it reuses an idle connection, taking a readable socket for
        # one the server has closed: where the kernel tells that outright, it is asked
        # instead of polled. A poll lets every other thread take the interpreter, and with
        # 16 readers that wait costs more CPU than the rest of the request (bench/README.md).
        # A write also polls: it is not sent where the server wrote something unasked (a
        # 408, say) that would be read as its answer. (A read that gets such an answer is
        # retried.)
        if info == "is_readable" and self._sock is not None and self._kernel_state:
            if _closed_by_peer(self._sock):
                return True
            if not _WRITING.get():
                return False
        return self._stream.get_extra_info(info)


_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None
"""Linux's getsockopt option whose first byte is the connection's TCP state (other systems
that have the option number their states otherwise)."""
_TCP_ESTABLISHED = b"\x01"


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed or reset the connection (any state but established)."""
    assert _TCP_INFO is not None
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[:1] != _TCP_ESTABLISHED
    except OSError:
        return True


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets (TCP_NODELAY and all), each wrapped in a `_DeadlineStream`.

    `kernel_state`: an idle connection's check asks the kernel (see _DeadlineStream), which
    needs the check to run in the thread of the request that will use the connection.
    """

    def __init__(self, *, kernel_state: bool = True) -> None:
        self._sockets = httpcore.SyncBackend()
        self._kernel_state = kernel_state

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
        return _DeadlineStream(stream, direct=True, kernel_state=self._kernel_state)

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept for the next request (httpx's default)."""
_PORTS = {"http": 80, "https": 443}

_CONNECT_ERRORS = (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout)
"""The request never reached the server."""
_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)
"""Every other failure httpcore raises (all of its errors but the pool's internal one)."""


class _Route(Protocol):
    """Where requests go: straight to the API, or through a proxy."""

    def exchange(self, request: httpcore.Request, limit: int) -> _Answer:
        """The answer to `request`, read whole (at most `limit` bytes of body)."""

    def close(self) -> None: ...


class _Direct:
    """Keep-alive connections to the API, at most `size` open, one request on each at a time.

    In place of httpcore's ConnectionPool, which for every request takes its lock four times
    and checks each connection it holds (a poll of every socket) twice: a request here takes
    the connection given back last, and checks that one alone.
    """

    def __init__(
        self,
        origin: httpcore.Origin,
        ssl_context: ssl.SSLContext | None,
        size: int,
        pool_timeout: float,
    ) -> None:
        self._origin = origin
        self._ssl_context = ssl_context
        self._backend = _DeadlineBackend()
        self._size = size
        self._pool_timeout = pool_timeout
        self._idle: list[httpcore.HTTPConnection] = []
        self._open = 0
        """Connections idle or carrying a request."""
        self._changed = threading.Condition(threading.Lock())
        self._closed = False

    def exchange(self, request: httpcore.Request, limit: int) -> _Answer:
        connection = self._take()
        try:
            answer = _answer(request, connection.handle_request(request), limit)
            if answer.status == 408:
                # The server has given up on this connection (RFC 9110): not used again.
                connection.close()
            return answer
        finally:
            self._give_back(connection)

    def _take(self) -> httpcore.HTTPConnection:
        with self._changed:
            while True:
                while self._idle:
                    connection = self._idle.pop()
                    # Also true once the server has closed it while idle (a readable socket).
                    if not connection.has_expired():
                        return connection
                    connection.close()
                    self._open -= 1
                if self._open < self._size:
                    self._open += 1
                    break
                if not self._changed.wait(self._pool_timeout):
                    raise httpcore.PoolTimeout(
                        f"no connection was free within {self._pool_timeout:g} s"
                    )
        return httpcore.HTTPConnection(
            self._origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            network_backend=self._backend,
        )

    def _give_back(self, connection: httpcore.HTTPConnection) -> None:
        with self._changed:
            # Available: connected, and its last answer read to the end (else it was closed).
            reuse = connection.is_available() and not self._closed
            if reuse:
                self._idle.append(connection)
            else:
                self._open -= 1
            self._changed.notify()
        if not reuse:
            connection.close()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection in idle:
            connection.close()


class _Proxied:
    """Every request through one proxy, on httpcore's pool of proxy connections."""

    def __init__(self, proxy: httpx.Proxy, ssl_context: ssl.SSLContext | None, size: int) -> None:
        proxy_url = httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        )
        self._pool: httpcore.HTTPProxy | httpcore.SOCKSProxy
        if proxy.url.scheme in ("http", "https"):
            self._pool = httpcore.HTTPProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                ssl_context=ssl_context,
                proxy_ssl_context=proxy.ssl_context,
                max_connections=size,
                max_keepalive_connections=size,
                keepalive_expiry=KEEPALIVE_EXPIRY,
                # httpcore's pool checks idle connections in whichever thread assigns them.
                network_backend=_DeadlineBackend(kernel_state=False),
            )
        else:  # socks5:// or socks5h://, the only other schemes httpx.Proxy accepts
            self._pool = httpcore.SOCKSProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy.raw_auth,
                ssl_context=ssl_context,
                max_connections=size,
                max_keepalive_connections=size,
                keepalive_expiry=KEEPALIVE_EXPIRY,
                # httpcore's pool checks idle connections in whichever thread assigns them.
                network_backend=_DeadlineBackend(kernel_state=False),
            )

    def exchange(self, request: httpcore.Request, limit: int) -> _Answer:
        return _answer(request, self._pool.handle_request(request), limit)

    def close(self) -> None:
        self._pool.close()


def _no_proxy_for(url: httpx.URL, no_proxy: str) -> bool:
    """Whether NO_PROXY exempts `url`, each entry read as httpx reads it: `*` every host;
    an IP address, localhost or `scheme://host` that host alone; `.example.com` the
    subdomains of example.com; `example.com` it and its subdomains; with `:port`, on that
    port only."""
    for entry in no_proxy.split(","):
        name = entry.strip().lower()
        if name == "*":
            return True
        if not name:
            continue
        subdomains = not ("://" in name or name == "localhost" or _is_address(name))
        if ":" in name and _is_address(name):
            name = f"[{name}]"
        pattern = httpx.URL(name if "://" in name else f"all://{name}")
        if pattern.scheme not in ("all", url.scheme) or pattern.port not in (None, url.port):
            continue
        host = pattern.host
        if url.host == host and not host.startswith("."):
            return True
        if subdomains and url.host.endswith(host if host.startswith(".") else f".{host}"):
            return True
    return False


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _environment_proxy(url: httpx.URL) -> httpx.Proxy | None:
    """The proxy HTTP(S)_PROXY or ALL_PROXY names for `url`, unless NO_PROXY exempts it;
    None: go direct. The variables are read by urllib, as httpx.Client reads them."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or _no_proxy_for(url, proxies.get("no", "")):
        return None
    return httpx.Proxy(proxy if "://" in proxy else f"http://{proxy}")


_PLAIN_PATH = re.compile(r"/(?!/)(?:[\w\-.~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*", re.ASCII)
"""A path httpx would send as it is: nothing to percent-encode, no query, no `//` host."""


def _cause(error: BaseException, kind: type[_E]) -> _E | None:
    """The exception of type `kind` behind `error` (httpcore wraps the socket's), if any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, kind):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


_CHECK_URL = "(check --api-url or PULUMI_BACKEND_URL)"


def _encode(body: Any) -> bytes | None:
    """JSON bytes of a request body; values JSON cannot carry are an error, not a crash."""
    if body is None:
        return None
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as error:
        raise PgsyncError(f"request body is not valid JSON: {error}") from None


class _Answer(NamedTuple):
    """An answer read whole: its status, its headers and its (decoded) body."""

    status: int
    headers: Headers
    body: bytes

    def media_type(self) -> str:
        return _header(self.headers, b"content-type").partition(";")[0].strip() or (
            "no Content-Type"
        )


def _answer(request: httpcore.Request, response: httpcore.Response, limit: int) -> _Answer:
    """`response` read whole and closed."""
    try:
        if _REQUEST_LOG.isEnabledFor(logging.INFO):
            _log_request(request, response)
        stream = cast(Iterable[bytes], response.stream)  # a sync stream: httpcore's sync API
        return _Answer(
            response.status, response.headers, _read_body(response.headers, stream, limit)
        )
    finally:
        response.close()


def _log_request(request: httpcore.Request, response: httpcore.Response) -> None:
    version = response.extensions.get("http_version", b"HTTP/1.1").decode("ascii")
    reason = response.extensions.get("reason_phrase", b"").decode("ascii", errors="ignore")
    url = request.url
    host = b"[%s]" % url.host if b":" in url.host else url.host
    port = b"" if url.port is None else b":%d" % url.port
    _REQUEST_LOG.info(
        'HTTP Request: %s %s "%s %d %s"',
        request.method.decode("ascii"),
        (url.scheme + b"://" + host + port + url.target).decode("ascii"),
        version,
        response.status,
        reason or httpx.codes.get_reason_phrase(response.status),
    )


class Client:
    """All HTTP to the Policy Groups API goes through `request`."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        parallelism: int = 8,
        timeout: float = READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        max_rps: float | None = None,
        deadline: float = REQUEST_DEADLINE,
        max_body: int = MAX_BODY_BYTES,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if token and not (token.isascii() and token.isprintable() and token == token.strip()):
            # It would be quoted in an error (unredactable) or break the header.
            raise PgsyncError(
                f"{TOKEN_ENV} holds characters a token cannot have (spaces, control characters "
                "or non-ASCII); check how it is set"
            )
        if token and urlsplit(base_url).scheme != "https" and not is_loopback(base_url):
            raise PgsyncError(
                f"refusing to send the access token over plain HTTP to {base_url}; use https://"
            )
        self.base_url = base_url.rstrip("/")
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https"):
            raise PgsyncError(f"the API URL {base_url} is neither https:// nor http://")
        self.parallelism = max(1, parallelism)
        self.retry = retry or RetryPolicy()
        self._token = token or ""
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._pace = Pacer(max_rps, sleep) if max_rps else None
        self.deadline = deadline
        self.max_body = max_body
        self._scheme = url.raw_scheme
        self._host = url.raw_host
        self._port = url.port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        # Every network error names where it went: the user may not know which URL was used.
        self.where = f"{url.scheme}://{url.netloc.decode('ascii')}"
        if url.port is None:
            self.where += f":{_PORTS[url.scheme]}"
        self._announce = on_retry or functools.partial(log.info, "%s")
        self._prefix = url.raw_path.decode("ascii").rstrip("/")
        self._base = httpx.URL(f"{self.base_url}/")
        headers = [
            (b"Host", url.netloc),
            (b"Accept", ACCEPT.encode()),
            (b"Accept-Encoding", ACCEPT_ENCODING.encode()),
            (b"User-Agent", f"pgsync/{__version__}".encode()),
        ]
        if token:
            headers.append((b"Authorization", f"token {token}".encode()))
        self._headers = headers
        self._extensions = {
            "timeout": {
                "connect": connect_timeout,
                "read": timeout,
                "write": timeout,
                "pool": timeout,
            }
        }
        # trust_env as httpx's default: SSL_CERT_FILE and SSL_CERT_DIR are honoured.
        ssl_context = (
            httpx.create_ssl_context(verify=verify, trust_env=True)
            if url.scheme == "https"
            else None
        )
        # Loopback takes no proxy from the environment (HTTP_PROXY, …): a proxy would see a
        # plain-HTTP request, token and all. Elsewhere proxies are honoured, and https://
        # goes through them in a CONNECT tunnel, TLS end to end.
        proxy = None if is_loopback(base_url) else _environment_proxy(url)
        self._route: _Route
        if proxy is None:
            origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or _PORTS[url.scheme])
            self._route = _Direct(origin, ssl_context, self.parallelism, timeout)
        else:
            self._route = _Proxied(proxy, ssl_context, self.parallelism)

    def close(self) -> None:
        self._route.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """`text` without the token or any secret value known to the run."""
        return scrub(redact_token(text, self._token))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: retried on connection errors, timeouts, 408, 429 and 502/503/504.

        Its answer must be a 200 with a JSON body (any JSON value: the caller checks its
        shape); anything else is BadResponse.
        """
        return self._json("GET", path, self._send("GET", path, params=params, body=None))

    def query(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        """A POST that only reads (a preview): retried like a read, since it changes nothing."""
        return self._json("POST", path, self._send("POST", path, params=params, body=body))

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

    def _json(self, method: str, path: str, answer: _Answer) -> Any:
        if answer.status != 200:
            raise BadResponse(
                f"{method} {path}: the API answered HTTP {answer.status} "
                f"{'with no body' if not answer.body else 'with a body'}; expected 200 with JSON"
            )
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError) as error:
            # The message says where parsing failed, never what the body holds.
            reason = str(error) if isinstance(error, json.JSONDecodeError) else "nested too deep"
            raise BadResponse(
                f"{method} {path}: the API's answer (HTTP 200, {answer.media_type()}) "
                f"is not JSON: {reason}"
            ) from None

    def _target(self, path: str, params: Mapping[str, str] | None) -> bytes:
        """The request target httpx.Client would send for `path` under the base URL."""
        if _PLAIN_PATH.fullmatch(path) and "/." not in path:
            target = self._prefix + path
        else:
            # httpx.Client's own merging: percent-encoded, then dot segments removed.
            merged = self._base.raw_path + httpx.URL(path).raw_path.lstrip(b"/")
            target = self._base.copy_with(raw_path=merged).raw_path.decode("ascii")
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        return target.encode("ascii")

    def _request(self, method: str, target: bytes, content: bytes | None) -> httpcore.Request:
        headers = self._headers
        if content is not None or method in ("POST", "PUT", "PATCH"):
            # As httpx.Client: a write says its length, 0 when it has no body.
            headers = [
                *headers,
                (b"Content-Type", b"application/json"),
                (b"Content-Length", b"%d" % len(content or b"")),
            ]
        url = httpcore.URL(scheme=self._scheme, host=self._host, port=self._port, target=target)
        # No body: an empty iterable, which h11 sends no data event for (b"" would be one).
        return httpcore.Request(
            method, url, headers=headers, content=content or (), extensions=self._extensions
        )

    def _exchange(
        self, method: str, target: bytes, content: bytes | None, *, write: bool
    ) -> _Answer:
        """One attempt: the answer's head and its whole body, within the size and time limits."""
        reset = _DEADLINE.set(time.monotonic() + self.deadline)
        writing = _WRITING.set(write)
        try:
            return self._route.exchange(self._request(method, target, content), self.max_body)
        finally:
            _WRITING.reset(writing)
            _DEADLINE.reset(reset)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: Any,
        write: bool = False,
    ) -> _Answer:
        waited = 0.0
        content = _encode(body)
        target = self._target(path, params)
        started = time.monotonic()
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            if self._pace is not None:
                self._pace.wait()
            try:
                answer = self._exchange(method, target, content, write=write)
            except _CONNECT_ERRORS as error:
                # Never reached the server: safe to retry, write or not.
                reason = self._connect_failure(error)
                delay = None
            except _Unusable as error:
                if write:
                    raise AmbiguousWriteError(method, path, str(error)) from None
                if error.deadline:
                    raise TransportError(
                        f"{method} {path}: no complete answer within {self.deadline:g} s "
                        f"from {self.where} (the deadline of one request); not retried"
                    ) from None
                raise BadResponse(f"{method} {path}: unusable answer: {error}") from None
            except httpcore.LocalProtocolError as error:
                # Our own request was malformed: it never left, and a retry would fail alike.
                raise TransportError(
                    f"{method} {path}: cannot send: {type(error).__name__}"
                ) from None
            except _TRANSPORT_ERRORS as error:
                reason = self._transport_failure(error)
                if write:
                    raise AmbiguousWriteError(method, path, reason) from None
                delay = None
            else:
                status = answer.status
                if 200 <= status < 300:
                    return answer
                message = self._api_message(answer)
                retryable = status == 429 or (not write and status in RETRY_STATUSES)
                if not retryable:
                    if write and status >= 500:
                        raise AmbiguousWriteError(method, path, f"HTTP {status}: {message}")
                    if status in (401, 403):
                        refused = (
                            f"the token in {TOKEN_ENV}"
                            if self._token
                            else f"a request without a token ({TOKEN_ENV} is not set)"
                        )
                        raise AuthError(method, path, status, message, refused=refused)
                    raise ApiError(method, path, status, message)
                reason = f"HTTP {status}: {message}"
                delay = retry_after_seconds(_header(answer.headers, b"retry-after"), time.time())
            if last:
                break
            with self._rng_lock:
                backoff = self.retry.backoff(attempt, self._rng)
            wait = delay if delay is not None else backoff
            if waited + wait > self.retry.max_total_wait or (
                time.monotonic() - started + wait > self.retry.max_elapsed
            ):
                break
            self._announce(
                f"retrying in {round(wait, 1):g} s ({attempt + 2}/{self.retry.attempts}): "
                f"{method} {path}: {reason}"
            )
            self._sleep(wait)
            waited += wait
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        raise TransportError(f"{method} {path}: giving up after {tries}: {reason}")

    def _connect_failure(self, error: Exception) -> str:
        """Why no connection was made, as a retry reason; TransportError when a retry would
        fail the same way (a failed certificate check or handshake, an unknown name, a port
        nothing listens on)."""
        if isinstance(error, httpcore.ConnectTimeout):
            return f"{self.where} did not accept a connection within {self.connect_timeout:g} s"
        failure = _cause(error, ssl.SSLCertVerificationError)
        if failure is not None:
            raise TransportError(
                f"TLS certificate verification failed for {self.where} "
                f"({failure.verify_message or failure.reason}); not retried: check "
                "the API URL and the trusted CAs (SSL_CERT_FILE)"
            ) from None
        handshake = _cause(error, ssl.SSLError)
        if handshake is not None:
            raise TransportError(
                f"TLS handshake with {self.where} failed ({handshake.reason or handshake}); "
                f"not retried: is it an HTTPS server? {_CHECK_URL}"
            ) from None
        unknown = _cause(error, socket.gaierror)
        if unknown is not None:
            raise TransportError(
                f"cannot resolve host {self._host.decode('ascii')} ({unknown.strerror}) "
                f"for {self.where}; not retried {_CHECK_URL}"
            ) from None
        if _cause(error, ConnectionRefusedError) is not None:
            raise TransportError(
                f"cannot connect to {self.where}: connection refused {_CHECK_URL}"
            ) from None
        detail = self.redact(str(error)) or type(error).__name__
        return f"cannot connect to {self.where}: {detail}"

    def _transport_failure(self, error: Exception) -> str:
        """What went wrong after connecting, as a retry (or ambiguous write) reason."""
        if isinstance(error, httpcore.ReadTimeout):
            return f"{self.where} timed out: no answer within {self.timeout:g} s"
        if isinstance(error, httpcore.WriteTimeout):
            return f"{self.where} timed out: the request not taken within {self.timeout:g} s"
        detail = f"{type(error).__name__}: {self.redact(str(error))}".rstrip(": ")
        return f"{self.where}: {detail}"

    def _api_message(self, answer: _Answer) -> str:
        """The API's own message on one line: JSON `message` when there is one, else the body.

        Secrets go before the cut, so that no part of one is left at the end.
        """
        # httpx's reading of the (already decoded) body: its charset, its reason phrase.
        response = httpx.Response(
            answer.status,
            headers={"Content-Type": _header(answer.headers, b"content-type")},
            content=answer.body,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = self.redact(body["message"])
        else:
            text = self.redact(response.text.strip())[:500] or response.reason_phrase
        return escape(text)
