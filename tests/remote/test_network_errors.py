"""Network errors say what to do: which variable, which URL, which host and port, and whether
pgsync will try again (announced while it waits) or not (a retry would fail the same way)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.core.errors import TransportError
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.client import Client, RetryPolicy

LIST = "/api/orgs/acme/policygroups"
SENTINEL = "pul-SENTINEL-0123456789abcdef"
QUICK = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)


class Listener:
    """A TCP server on 127.0.0.1 that records each request's first line and then either says
    `reply` and hangs up, or (reply None) never answers."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._sock.accept()
            except OSError:  # closed by __exit__
                return
            self.connections.append(connection)
            if self.reply is not None:
                connection.sendall(self.reply)
                connection.close()
                continue
            with connection.makefile("rb") as reader:
                self.requests.append(reader.readline().rstrip())

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        for connection in self.connections:
            connection.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def plan(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    path = tmp_path / "groups.yaml"
    path.write_text("organization: acme\npolicyGroups: []\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["plan", str(path), *args], env=env)


def collected(lines: list[str]) -> dict[str, Any]:
    return {"on_retry": lines.append, "sleep": lambda _seconds: None}


# --- before any request -------------------------------------------------------------------------


def test_a_missing_token_is_named_with_where_to_create_one(tmp_path: Path) -> None:
    result = plan(tmp_path, "--api-url", "https://api.example.com")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: PULUMI_ACCESS_TOKEN is not set (or empty); create a token at "
        "https://app.pulumi.com/account/tokens and export it\n"
    )


def test_an_empty_token_is_named_as_a_missing_one(tmp_path: Path) -> None:
    result = plan(tmp_path, "--api-url", "https://api.example.com", env={"PULUMI_ACCESS_TOKEN": ""})
    assert result.exit_code == 1
    assert "PULUMI_ACCESS_TOKEN is not set (or empty)" in result.stderr


def test_a_url_without_a_scheme_is_told_to_write_one(tmp_path: Path) -> None:
    result = plan(tmp_path, "--api-url", "api.pulumi.com", env={"PULUMI_ACCESS_TOKEN": SENTINEL})
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --api-url api.pulumi.com has no scheme; write https://api.pulumi.com\n"
    )


def test_a_loopback_url_without_a_scheme_is_told_to_write_http(tmp_path: Path) -> None:
    result = plan(tmp_path, "--api-url", "localhost:8080")
    assert result.exit_code == 1
    assert "write http://localhost:8080" in result.stderr


# --- the token refused --------------------------------------------------------------------------


def test_a_refused_token_names_its_variable_and_not_the_token(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec()), token="pul-the-right-one") as server:
        result = plan(tmp_path, "--api-url", server.url, env={"PULUMI_ACCESS_TOKEN": SENTINEL})
    assert result.exit_code == 1
    assert "error: the API refused the token in PULUMI_ACCESS_TOKEN (HTTP 401, GET " in (
        result.stderr
    )
    assert SENTINEL not in result.output


def test_a_401_without_a_token_says_the_variable_is_not_set(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec()), token=SENTINEL) as server:
        result = plan(tmp_path, "--api-url", server.url)
    assert result.exit_code == 1
    assert (
        "error: the API refused a request without a token (PULUMI_ACCESS_TOKEN is not set) "
        "(HTTP 401, GET "
    ) in result.stderr


# --- failures a retry would repeat --------------------------------------------------------------


def test_a_refused_connection_is_reported_at_once_with_scheme_host_and_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    result = plan(tmp_path, "--api-url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot connect to http://127.0.0.1:{port}: connection refused "
        "(check --api-url or PULUMI_BACKEND_URL)\n"
    )


def test_a_refused_connection_is_not_retried() -> None:
    lines: list[str] = []
    with (
        Client(f"http://127.0.0.1:{free_port()}", None, retry=QUICK, **collected(lines)) as http,
        pytest.raises(TransportError, match="connection refused"),
    ):
        http.get(LIST)
    assert lines == []


def test_https_to_a_plain_http_server_fails_its_handshake_once() -> None:
    with Listener(reply=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as server:
        lines: list[str] = []
        with (
            Client(server.url("https"), None, retry=QUICK, **collected(lines)) as http,
            pytest.raises(TransportError) as raised,
        ):
            http.get(LIST)
        accepted = len(server.connections)
    assert str(raised.value).startswith(f"TLS handshake with {server.url('https')} failed (")
    assert "not retried" in str(raised.value)
    assert (accepted, lines) == (1, [])


def test_a_name_that_does_not_resolve_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver is stood in for: tests reach no DNS server, only 127.0.0.1.
    lookups: list[str] = []

    def unknown(host: str, *args: object, **kwargs: object) -> Any:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    with (
        Client("https://api.example.com", SENTINEL, retry=QUICK) as http,
        pytest.raises(TransportError) as raised,
    ):
        http.get(LIST)
    assert str(raised.value) == (
        "cannot resolve host api.example.com (Name or service not known) for "
        "https://api.example.com:443; not retried (check --api-url or PULUMI_BACKEND_URL)"
    )
    assert lookups == ["api.example.com"]


# --- timeouts, retried and announced ------------------------------------------------------------


@pytest.fixture
def silent() -> Iterator[Listener]:
    """A host that accepts every connection and never answers."""
    with Listener() as server:
        yield server


def test_a_host_that_never_answers_is_retried_after_each_read_timeout(silent: Listener) -> None:
    lines: list[str] = []
    with (
        Client(silent.url(), None, timeout=0.2, retry=QUICK, **collected(lines)) as http,
        pytest.raises(TransportError) as raised,
    ):
        http.get(LIST)
    assert str(raised.value) == (
        f"GET {LIST}: giving up after 4 attempts: {silent.url()} timed out: no answer within 0.2 s"
    )
    assert silent.requests == [f"GET {LIST} HTTP/1.1".encode()] * 4


def test_each_retry_is_announced_with_its_wait_its_number_and_the_host(silent: Listener) -> None:
    lines: list[str] = []
    with (
        Client(silent.url(), None, timeout=0.2, retry=QUICK, **collected(lines)) as http,
        pytest.raises(TransportError),
    ):
        http.get(LIST)
    reason = f"GET {LIST}: {silent.url()} timed out: no answer within 0.2 s"
    assert lines == [f"retrying in 0 s ({n}/4): {reason}" for n in (2, 3, 4)]


def test_no_retry_is_begun_past_the_elapsed_bound(silent: Listener) -> None:
    bounded = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, max_elapsed=0.1)
    with (
        Client(silent.url(), None, timeout=0.2, retry=bounded) as http,
        pytest.raises(TransportError, match="giving up after 1 attempt: "),
    ):
        http.get(LIST)
    assert len(silent.requests) == 1


def test_a_host_that_accepts_no_connection_times_out_after_the_connect_timeout() -> None:
    # A full backlog: the kernel answers no further connection attempts.
    with socket.socket() as server, socket.socket() as queued:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        queued.connect(server.getsockname())
        one = RetryPolicy(attempts=1)
        with (
            Client(url, None, connect_timeout=0.2, retry=one) as http,
            pytest.raises(TransportError) as raised,
        ):
            http.get(LIST)
    assert str(raised.value) == (
        f"GET {LIST}: giving up after 1 attempt: {url} did not accept a connection within 0.2 s"
    )


def test_the_read_timeout_is_taken_from_the_environment(silent: Listener, tmp_path: Path) -> None:
    result = plan(tmp_path, "--api-url", silent.url(), env={"PGSYNC_READ_TIMEOUT": "0.1"})
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"giving up after 5 attempts: {silent.url()} timed out: no answer within 0.1 s\n"
    )


def test_the_retries_of_a_cli_run_are_announced_on_stderr(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(path="policygroups$", status=503, headers={"Retry-After": "0"}, times=1)
    result = plan(tmp_path, "--api-url", emulator.url)
    assert result.exit_code == 0, result.output
    assert f"retrying in 0 s (2/5): GET {LIST}: HTTP 503: " in result.stderr


def test_the_connect_timeout_flag_reaches_the_message(tmp_path: Path) -> None:
    with socket.socket() as server, socket.socket() as queued:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        queued.connect(server.getsockname())
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        result = plan(tmp_path, "--api-url", url, "--connect-timeout", "0.1")
    assert result.exit_code == 1
    assert f"{url} did not accept a connection within 0.1 s" in result.stderr
