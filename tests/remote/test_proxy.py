"""The access token never crosses a proxy in clear: loopback bypasses it, HTTPS tunnels through."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from conftest import org_spec
from pgsync.core.errors import TransportError
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.client import Client, RetryPolicy

TOKEN = "pul-PROXYSENTINEL-0123456789abcdef"
LIST = "/api/orgs/acme/policygroups"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")


class RecordingProxy:
    """A proxy on 127.0.0.1 that records every byte it is sent.

    A CONNECT is answered 200 and the tunnel's first bytes are kept (then it hangs up); any
    other request, a plain-HTTP request a proxy could read, gets a 502.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._stop.is_set():
                conn.close()
                return
            with conn:
                conn.settimeout(5)
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                break
            head += chunk
        self.received.append(head)
        if head.startswith(b"CONNECT "):
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.received.append(conn.recv(65536))
        else:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        socket.create_connection(self._listener.getsockname()).close()  # wakes accept()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """The proxy, named by every proxy variable the environment may hold."""
    running = RecordingProxy()
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, running.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield running
    running.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_loopback_goes_direct_whatever_the_proxy_settings(
    proxy: RecordingProxy, fast_retry: RetryPolicy, host: str
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec()), token=TOKEN) as server:
        url = server.url.replace("127.0.0.1", host)
        with Client(url, TOKEN, retry=fast_retry) as client:
            body = client.get(LIST)
        assert [r.path for r in server.requests] == [LIST]
    assert "policyGroups" in body
    assert proxy.received == []


def test_https_through_a_proxy_is_a_connect_tunnel_the_proxy_cannot_read(
    proxy: RecordingProxy,
) -> None:
    client = Client("https://api.example.test", TOKEN, retry=RetryPolicy(attempts=1), deadline=5.0)
    with client, pytest.raises(TransportError):
        # The proxy hangs up after the TLS ClientHello: no answer, but nothing in clear.
        client.get(LIST)
    connect, tunnel = proxy.received
    assert connect.startswith(b"CONNECT api.example.test:443 HTTP/1.1\r\n")
    assert tunnel[:1] == b"\x16"  # a TLS handshake record: encrypted from here on
    assert all(
        TOKEN.encode() not in seen and b"Authorization" not in seen for seen in proxy.received
    )


# 0.0.0.0 is not a loopback address, so proxy settings apply to it, yet on Linux a connection
# to it reaches 127.0.0.1: a host for which NO_PROXY decides, with nothing leaving the machine.
UNSPECIFIED = "0.0.0.0"


@pytest.mark.parametrize("no_proxy", [UNSPECIFIED, "*", f"example.test, {UNSPECIFIED}"])
def test_a_host_no_proxy_names_is_reached_directly(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("NO_PROXY", no_proxy)
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        url = server.url.replace("127.0.0.1", UNSPECIFIED)
        with Client(url, None, retry=RetryPolicy(attempts=1)) as client:
            body = client.get(LIST)
        assert [r.path for r in server.requests] == [LIST]
    assert "policyGroups" in body
    assert proxy.received == []


@pytest.mark.parametrize("no_proxy", ["", "example.test, 0.0.0.1", "http://other.test"])
def test_a_host_no_proxy_does_not_name_goes_through_the_proxy(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("NO_PROXY", no_proxy)
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        url = server.url.replace("127.0.0.1", UNSPECIFIED)
        client = Client(url, None, retry=RetryPolicy(attempts=1))
        with client, pytest.raises(TransportError, match="HTTP 502"):
            client.get(LIST)
        assert server.requests == []
    (forwarded,) = proxy.received
    assert forwarded.startswith(f"GET {url}{LIST} HTTP/1.1\r\n".encode())
