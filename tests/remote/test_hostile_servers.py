"""Hostile and broken servers: one clear error naming the route, bounded memory and time.

Each case is a real HTTP server on 127.0.0.1: the emulator with an injected answer, or a
small server of its own where the answer is a stream the emulator cannot send.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clirun import groups_file, pgsync
from conftest import org_spec
from pgsync.core import paths
from pgsync.core.errors import BadResponse, PgsyncError, TransportError
from pgsync.core.model import LiveGroup
from pgsync.core.plan import Request
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.api import PolicyGroupsApi, live_group_from_api
from pgsync.remote.client import MAX_BODY_BYTES, Client, RetryPolicy

LIST = "/api/orgs/acme/policygroups"
GIB = 1 << 30
SELF_SIGNED = Path(__file__).parents[1] / "data" / "tls" / "selfsigned.pem"

Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


class HostileServer:
    """An HTTP server on 127.0.0.1 whose every answer is written by `answer`."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.requests = 0
        self.body_bytes_sent = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.requests += 1
                with contextlib.suppress(OSError):  # the client hung up: what limits are for
                    answer(self)

            do_PATCH = do_GET  # noqa: N815 (http.server names its handlers so)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def head(handler: http.server.BaseHTTPRequestHandler, **headers: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()


def client(url: str, **options: Any) -> Client:
    return Client(url, None, retry=RetryPolicy(attempts=3, base_delay=0.001), **options)


def peak_memory(run: Callable[[], object]) -> tuple[int, BaseException]:
    """The peak of Python's allocations while `run` fails, and how it failed."""
    tracemalloc.start()
    try:
        run()
    except PgsyncError as error:
        failure: BaseException = error
    else:
        raise AssertionError("no error")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, failure


# --- bodies that are not what the route returns ---------------------------------------------

NOT_AN_OBJECT = [
    ('{"policyGroups": [', "application/json", "is not JSON: Expecting value"),
    ("<html><body>502 Bad Gateway</body></html>", "text/html", "(HTTP 200, text/html) is not"),
    ("null", "application/json", "the body is null, not an object"),
    ("[]", "application/json", "the body is an array, not an object"),
    ('"policyGroups"', "application/json", "the body is a string, not an object"),
    ('{"policyGroups": "a"}', "application/json", "policyGroups is a string, not an array"),
    ('{"policyGroups": [{"name": 7}]}', "application/json", "policyGroups[0].name is a number"),
    ("{}", "application/json", "policyGroups is missing"),
]


def refused(result: Result, server: EmulatorServer, route: str, what: str) -> str:
    """Exit 1 with one error line naming the route and what was wrong; no traceback, no write."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if route in line]
    assert what in line, line
    assert server.writes() == []
    return line


def live_detail(server: EmulatorServer, name: str) -> dict[str, Any]:
    """The group's detail as the emulator answers it, to be altered into a hostile one."""
    detail = server.group("acme", name)
    assert detail is not None
    return detail


@pytest.mark.parametrize(("body", "media", "what"), NOT_AN_OBJECT)
def test_a_group_listing_that_is_not_one_is_an_error_naming_the_route(
    emulator: EmulatorServer, tmp_path: Path, body: str, media: str, what: str
) -> None:
    emulator.inject_fault(
        path="policygroups$", status=200, body=body, headers={"Content-Type": media}
    )
    path = groups_file(tmp_path, [{"name": "new", "stacks": ["web/prod"]}])
    result = pgsync(emulator, "apply", path, "--yes")
    refused(result, emulator, f"GET {LIST}", what)


def test_a_204_on_the_group_listing_is_an_error(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.inject_fault(path="policygroups$", status=204)
    path = groups_file(tmp_path, [{"name": "new"}])
    result = pgsync(emulator, "apply", path, "--yes")
    refused(result, emulator, f"GET {LIST}", "HTTP 204 with no body; expected 200 with JSON")


WRONG_GROUP_FIELDS = [
    ({"stacks": "web/prod"}, "group.stacks is a string, not an array"),
    ({"stacks": [["web", "prod"]]}, "group.stacks[0] is an array, not an object"),
    ({"appliedPolicyPacks": [{"name": "aws"}]}, "appliedPolicyPacks[0].versionTag is missing"),
    ({"accounts": [{"name": "aws-prod"}]}, "group.accounts[0] is an object, not a string"),
    ({"mode": "strict"}, "group.mode is 'strict', not one of preventative, audit"),
    ({"entityType": None}, "group.entityType is missing"),
    ({"isOrgDefault": "no"}, "group.isOrgDefault is a string, not a boolean"),
]


@pytest.mark.parametrize(("override", "what"), WRONG_GROUP_FIELDS)
def test_a_group_detail_of_the_wrong_shape_is_an_error_and_nothing_is_written(
    tmp_path: Path, override: dict[str, Any], what: str
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a"}]))) as server:
        detail = {**live_detail(server, "a"), **override}
        server.inject_fault(path="policygroups/a$", status=200, body=detail)
        path = groups_file(tmp_path, [{"name": "a", "stacks": ["web/prod"]}])
        result = pgsync(server, "apply", path, "--yes")
        refused(result, server, f"GET {LIST}/a", what)


# --- point 7: a group answer decides nothing it does not clearly say --------------------------


def test_a_204_on_a_group_read_is_an_error_not_absent(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a"}]))) as server:
        server.inject_fault(path="policygroups/a$", status=204)
        result = pgsync(server, "apply", groups_file(tmp_path, [{"name": "a"}]), "--yes")
        refused(result, server, f"GET {LIST}/a", "HTTP 204 with no body")


def test_a_group_answer_without_mode_is_an_error_not_preventative(tmp_path: Path) -> None:
    spec = org_spec([{"name": "a", "mode": "audit"}])
    with EmulatorServer(fixture_from_dict(spec)) as server:
        detail = live_detail(server, "a")
        del detail["mode"]
        server.inject_fault(path="policygroups/a$", status=200, body=detail)
        path = groups_file(tmp_path, [{"name": "a", "mode": "audit"}])
        result = pgsync(server, "apply", path, "--yes")
        refused(result, server, f"GET {LIST}/a", "group.mode is missing")


def test_a_group_answer_naming_another_group_is_an_error(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a"}, {"name": "b"}]))) as server:
        server.inject_fault(path="policygroups/a$", status=200, body=server.group("acme", "b"))
        path = groups_file(tmp_path, [{"name": "b"}], prune=True)
        result = pgsync(server, "apply", path, "--yes", "--allow", "delete:a")
        refused(result, server, f"GET {LIST}/a", "group.name is 'b', not the group asked for, 'a'")
        assert server.group("acme", "a") is not None


DEFAULTS = ("default-policy-group", "default-accounts-policy-group")


def test_a_default_group_answer_without_is_org_default_is_an_error_and_prunes_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    detail = live_detail(emulator, DEFAULTS[1])
    del detail["isOrgDefault"]
    emulator.inject_fault(path=f"policygroups/{DEFAULTS[1]}$", status=200, body=detail)
    path = groups_file(tmp_path, [], prune=True)
    allow = [f"--allow=delete:{name}" for name in DEFAULTS]
    result = pgsync(emulator, "apply", path, "--yes", *allow)
    refused(result, emulator, f"GET {LIST}/{DEFAULTS[1]}", "group.isOrgDefault is missing")


def test_groups_with_default_names_are_never_pruned_even_flagged_not_default(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    for name in DEFAULTS:
        detail = {**live_detail(emulator, name), "isOrgDefault": False}
        emulator.inject_fault(path=f"policygroups/{name}$", status=200, body=detail, times=5)
    path = groups_file(tmp_path, [], prune=True)
    allow = [f"--allow=delete:{name}" for name in DEFAULTS]
    result = pgsync(emulator, "apply", path, "--yes", *allow)
    assert result.exit_code == 0, result.output
    assert emulator.writes() == []
    assert all(emulator.group("acme", name) is not None for name in DEFAULTS)


@pytest.mark.parametrize(
    "request_",
    [
        Request("DELETE", paths.group("acme", "default-audit-policy-group")),
        Request("PATCH", paths.group("acme", "default-policy-group"), {"newName": "mine"}),
    ],
    ids=["delete", "rename"],
)
def test_a_delete_or_rename_of_a_default_name_is_never_sent(
    emulator: EmulatorServer, request_: Request
) -> None:
    with Client(emulator.url, None) as http, pytest.raises(PgsyncError, match="default group"):
        PolicyGroupsApi(http, "acme").send(request_)
    assert emulator.requests == []


# --- bodies that are too large, too compressed or too slow ----------------------------------


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read() -> None:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head(handler, Content_Length=str(GIB))
        handler.wfile.write(b" " * 65536)

    with (
        HostileServer(answer) as server,
        client(server.url) as http,
        pytest.raises(BadResponse, match=f"would be {GIB:,} bytes, over the limit"),
    ):
        http.get(LIST)
    assert server.requests == 1


def test_a_gigabyte_body_stops_at_the_limit_in_bounded_memory() -> None:
    chunk = b" " * (1 << 20)

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head(handler, Connection="close")  # no length: the body ends when the server hangs up
        for _ in range(GIB // len(chunk)):
            handler.wfile.write(chunk)

    with HostileServer(answer) as server, client(server.url) as http:
        peak, failure = peak_memory(lambda: http.get(LIST))
    assert isinstance(failure, BadResponse)
    assert f"the body is over the limit of {MAX_BODY_BYTES:,} bytes" in str(failure)
    assert peak < MAX_BODY_BYTES + (8 << 20)
    assert server.requests == 1


def gzip_of_zeros(size: int) -> bytes:
    """A gzip member of `size` zero bytes, built from one repeated fully-flushed block."""
    block_size = 1 << 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(b"\0" * block_size) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // block_size):
        crc = zlib.crc32(b"\0" * block_size, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // block_size) + deflate.flush() + trailer


def test_a_gzip_bomb_is_stopped_at_the_limit_while_inflating() -> None:
    bomb = gzip_of_zeros(GIB)

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head(handler, Content_Encoding="gzip", Content_Length=str(len(bomb)))
        handler.wfile.write(bomb)

    with HostileServer(answer) as server, client(server.url) as http:
        peak, failure = peak_memory(lambda: http.get(LIST))
    assert len(bomb) < MAX_BODY_BYTES // 16
    assert isinstance(failure, BadResponse)
    assert f"the body is over the limit of {MAX_BODY_BYTES:,} bytes" in str(failure)
    assert peak < MAX_BODY_BYTES + (8 << 20)


def test_a_gzip_body_within_the_limit_is_read() -> None:
    body = json.dumps({"policyGroups": []}).encode()

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        packed = zlib.compress(body, wbits=zlib.MAX_WBITS | 16)
        head(handler, Content_Encoding="gzip", Content_Length=str(len(packed)))
        handler.wfile.write(packed)

    with HostileServer(answer) as server, client(server.url) as http:
        assert http.get(LIST) == {"policyGroups": []}


def test_a_body_trickled_a_byte_at_a_time_is_stopped_by_the_deadline_and_not_retried() -> None:
    body = b'{"policyGroups": []}' + b" " * 10_000
    server_ref: list[HostileServer] = []

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head(handler, Content_Length=str(len(body)))
        for byte in body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            server_ref[0].body_bytes_sent += 1
            time.sleep(0.01)

    with HostileServer(answer) as server, client(server.url, deadline=0.5) as http:
        server_ref.append(server)
        with pytest.raises(TransportError, match=r"no complete answer within 0.5 s"):
            http.get(LIST)
    assert server.requests == 1
    assert server.body_bytes_sent < len(body) // 2


def test_headers_trickled_a_byte_at_a_time_are_stopped_by_the_deadline_and_not_retried() -> None:
    header = b"X-Trickle: " + b"a" * 2_000 + b"\r\n"
    sent: list[int] = []

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for byte in header:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            sent.append(byte)
            time.sleep(0.01)

    with (
        HostileServer(answer) as server,
        client(server.url, deadline=0.5) as http,
        pytest.raises(TransportError, match=r"no complete answer within 0.5 s"),
    ):
        http.get(LIST)
    assert server.requests == 1
    assert len(sent) < len(header) // 2


def test_a_server_that_never_answers_is_stopped_by_the_deadline_before_the_read_timeout() -> None:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.rfile.read(1)  # silent until the client hangs up

    with (
        HostileServer(answer) as server,
        client(server.url, deadline=0.5, timeout=30.0) as http,
        pytest.raises(TransportError, match=r"no complete answer within 0.5 s"),
    ):
        http.get(LIST)
    assert server.requests == 1


def test_the_read_timeout_governs_reads_where_the_connect_timeout_is_longer() -> None:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(0.5)  # past the read timeout, well within the connect timeout
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")

    with (
        HostileServer(answer) as server,
        client(server.url, timeout=0.2, connect_timeout=5.0) as http,
        pytest.raises(TransportError, match=r"timed out: no answer within 0.2 s"),
    ):
        http.get(LIST)


def test_a_kept_alive_connection_whose_next_answer_never_comes_is_stopped_by_the_read_timeout() -> (
    None
):
    answered: list[int] = []

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        if answered:
            handler.rfile.read(1)  # silent until the client hangs up
            return
        answered.append(handler.client_address[1])
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")

    with HostileServer(answer) as server, client(server.url, timeout=0.2) as http:
        assert http.get(LIST) == {}
        with pytest.raises(TransportError, match=r"timed out: no answer within 0.2 s"):
            http.get(LIST)
    assert server.requests == 4


# --- connections -------------------------------------------------------------------------------


def noting_ports(ports: list[int]) -> Answer:
    """An answer of {} that notes the client's port: one port per connection."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        ports.append(handler.client_address[1])
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")

    return answer


def test_requests_one_after_another_share_one_connection() -> None:
    ports: list[int] = []
    with HostileServer(noting_ports(ports)) as server, client(server.url) as http:
        for _ in range(5):
            http.get(LIST)
    assert len(ports) == 5
    assert len(set(ports)) == 1


def test_concurrent_requests_open_no_more_connections_than_the_parallelism() -> None:
    ports: list[int] = []
    with (
        HostileServer(noting_ports(ports)) as server,
        client(server.url, parallelism=2) as http,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        answers = list(pool.map(lambda _: http.get(LIST), range(40)))
    assert answers == [{}] * 40
    assert len(set(ports)) <= 2


def orderly_close(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.connection.shutdown(socket.SHUT_RDWR)


def reset(handler: http.server.BaseHTTPRequestHandler) -> None:
    # A zero linger: the client's end gets a reset, not an orderly close. The socket closes
    # at once only when no file made from it is open (rfile is).
    handler.rfile.close()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()


@pytest.mark.parametrize("hang_up", [orderly_close, reset], ids=["closed", "reset"])
def test_a_connection_the_server_hung_up_while_idle_is_not_reused(
    hang_up: Callable[[http.server.BaseHTTPRequestHandler], None],
) -> None:
    done = threading.Event()

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        # A keep-alive answer (no Connection: close), then the server hangs up.
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")
        handler.wfile.flush()
        hang_up(handler)
        handler.close_connection = True
        done.set()

    sleeps: list[float] = []
    with HostileServer(answer) as server, client(server.url, sleep=sleeps.append) as http:
        http.get(LIST)
        assert done.wait(timeout=10)
        assert http.get(LIST) == {}
    assert server.requests == 2
    assert sleeps == []


def answer_to_nothing(
    ports: list[tuple[str, int]],
) -> tuple[Answer, threading.Event, threading.Event]:
    """An answer of {} that notes each request's method and port; after the first GET has
    been read (the first event, set by the test), a 408 written unasked on its connection,
    which stays open (the second event)."""
    read, wrote = threading.Event(), threading.Event()

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        ports.append((handler.command, handler.client_address[1]))
        handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")
        handler.wfile.flush()
        if len(ports) == 1 and read.wait(timeout=10):
            handler.wfile.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            handler.wfile.flush()
            wrote.set()

    return answer, read, wrote


def test_a_write_is_not_sent_on_a_connection_the_server_wrote_to_unasked() -> None:
    ports: list[tuple[str, int]] = []
    answer, read, wrote = answer_to_nothing(ports)
    with HostileServer(answer) as server, client(server.url) as http:
        http.get(LIST)
        read.set()
        assert wrote.wait(timeout=10)
        http.write("PATCH", f"{LIST}/g/batch", [])
    [(_, read_on), (method, written_on)] = ports
    assert method == "PATCH"
    assert written_on != read_on


def test_a_read_that_gets_an_answer_written_unasked_is_retried_on_a_new_connection() -> None:
    ports: list[tuple[str, int]] = []
    answer, read, wrote = answer_to_nothing(ports)
    sleeps: list[float] = []
    with HostileServer(answer) as server, client(server.url, sleep=sleeps.append) as http:
        http.get(LIST)
        read.set()
        assert wrote.wait(timeout=10)
        assert http.get(LIST) == {}
    # The server logs the read that got the 408 and the retry from threads of their own, in
    # either order: the retry is the one on a connection of its own.
    first = ports[0][1]
    assert len(sleeps) == 1
    assert {port for _, port in ports} - {first}


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def untrusted_tls() -> Iterator[HostileServer]:
    """An HTTPS server whose certificate no trusted CA signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(SELF_SIGNED)

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head(handler, Content_Length="2")
        handler.wfile.write(b"{}")

    with HostileServer(answer, tls=context) as server:
        yield server


def test_a_certificate_verification_failure_is_not_retried(untrusted_tls: HostileServer) -> None:
    sleeps: list[float] = []
    http = Client(untrusted_tls.url, None, retry=RetryPolicy(attempts=5), sleep=sleeps.append)
    with http, pytest.raises(TransportError, match="TLS certificate verification failed") as raised:
        http.get(LIST)
    assert "not retried" in str(raised.value)
    assert sleeps == []
    assert untrusted_tls.requests == 0


def test_the_same_server_is_read_when_its_certificate_is_trusted(
    untrusted_tls: HostileServer,
) -> None:
    trusted = ssl.create_default_context(cafile=str(SELF_SIGNED))
    with Client(untrusted_tls.url, None, verify=trusted) as http:
        assert http.get(LIST) == {}


# --- the parser under random answers ------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = {
    "name": st.just("a") | JSON,
    "isOrgDefault": st.booleans() | JSON,
    "entityType": st.sampled_from(["stacks", "accounts"]) | JSON,
    "mode": st.sampled_from(["preventative", "audit"]) | JSON,
    "stacks": st.lists(st.fixed_dictionaries({"name": JSON, "routingProject": JSON})) | JSON,
    "accounts": st.lists(st.text(max_size=5)) | JSON,
    "appliedPolicyPacks": st.lists(
        st.fixed_dictionaries({"name": JSON, "versionTag": JSON, "version": JSON}), max_size=2
    )
    | JSON,
    "stackMatchRule": JSON,
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=FIELDS) | JSON)
def test_any_group_answer_parses_or_is_one_bad_response(body: Any) -> None:
    try:
        group = live_group_from_api(body, f"GET {LIST}/a", "a")
    except BadResponse as error:
        assert str(error).startswith(f"GET {LIST}/a: unexpected answer: ")
    else:
        assert isinstance(group, LiveGroup) and group.name == "a"
