"""The emulator's HTTP server over a real socket: how requests are read and answers written."""

from __future__ import annotations

import datetime
import email.utils
import json
import socket
from dataclasses import dataclass

import pytest

from pgsync.emulator import EmulatorServer

GROUPS = "/api/orgs/acme/policygroups"


def connect(server: EmulatorServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as the server wrote it."""

    status: int
    headers: dict[str, str]
    """By lower-case name."""
    body: bytes


def answers(server: EmulatorServer, raw: bytes) -> list[Answer]:
    """Send `raw` in one write; every answer until the server closes the connection."""
    rest = everything(server, raw)
    found = []
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines)
        headers = {name.lower(): value for name, value in fields.items()}
        length = int(headers.get("content-length", "0"))
        found.append(Answer(int(status_line.split()[1]), headers, rest[:length]))
        rest = rest[length:]
    return found


def answer(server: EmulatorServer, raw: bytes) -> Answer:
    (response,) = answers(server, raw)
    return response


def everything(server: EmulatorServer, raw: bytes) -> bytes:
    """All the server sends back to `raw` until it closes the connection."""
    with connect(server) as sock:
        sock.sendall(raw)
        return b"".join(iter(lambda: sock.recv(65536), b""))


def get(target: str, *fields: str) -> bytes:
    """A GET of `target` that asks the server to close the connection after it."""
    head = [f"GET {target} HTTP/1.1", *fields, "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


# --- reading the request ---------------------------------------------------------------------


def test_a_query_is_decoded_with_blank_values_kept(server: EmulatorServer) -> None:
    assert answer(server, get(f"{GROUPS}?q=a%20b&blank=&plus=a+b")).status == 200
    assert server.requests[-1].query == {"q": "a b", "blank": "", "plus": "a b"}


def test_a_repeated_query_parameter_keeps_its_last_value(server: EmulatorServer) -> None:
    answer(server, get(f"{GROUPS}?x=1&x=2"))
    assert server.requests[-1].query == {"x": "2"}


def test_a_path_beginning_with_two_slashes_is_still_a_path(server: EmulatorServer) -> None:
    assert answer(server, get(f"//{GROUPS.lstrip('/')}")).status == 200
    assert server.requests[-1].path == GROUPS


def test_an_absolute_url_as_target_is_read_as_its_path_and_query(server: EmulatorServer) -> None:
    assert answer(server, get(f"http://example.invalid{GROUPS}?x=1")).status == 200
    assert (server.requests[-1].path, server.requests[-1].query) == (GROUPS, {"x": "1"})


def test_a_repeated_header_field_keeps_its_last_value(server: EmulatorServer) -> None:
    answer(server, get(GROUPS, "X-Trace: 1", "x-trace: 2"))
    assert server.requests[-1].headers["x-trace"] == "2"


def test_header_values_lose_the_blanks_around_them(server: EmulatorServer) -> None:
    answer(server, get(GROUPS, "X-Trace: \t padded \t"))
    assert server.requests[-1].headers["x-trace"] == "padded"


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", ""])
def test_an_invalid_content_length_is_400_and_the_connection_closed(
    server: EmulatorServer, length: str
) -> None:
    raw = f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
    response = answer(server, raw)
    assert (response.status, response.headers["connection"], server.requests) == (400, "close", [])


def test_the_message_of_an_invalid_content_length_quotes_it(server: EmulatorServer) -> None:
    raw = f"POST {GROUPS} HTTP/1.1\r\nContent-Length: abc\r\n\r\n".encode()
    text = everything(server, raw)
    body = json.loads(text.split(b"\r\n\r\n", 1)[1])
    assert body == {"code": 400, "message": "Invalid Content-Length 'abc'"}


def test_the_body_ends_at_its_length_and_the_next_request_follows_on_the_connection(
    server: EmulatorServer,
) -> None:
    body = b'{"name": "new"}'
    raw = (
        (
            f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        + body
        + get(f"{GROUPS}/new")
    )
    created, read = answers(server, raw)
    assert (created.status, read.status) == (204, 200)
    assert [(r.method, r.body) for r in server.requests] == [
        ("POST", {"name": "new"}),
        ("GET", None),
    ]


def test_a_body_sent_in_pieces_is_read_whole(server: EmulatorServer) -> None:
    body = b'{"name": "in pieces"}'
    head = (
        f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(head + body[:5])
        sock.sendall(body[5:])
        text = b"".join(iter(lambda: sock.recv(65536), b""))
    assert text.startswith(b"HTTP/1.1 204 ")
    assert server.requests[-1].body == {"name": "in pieces"}


# --- keep-alive and closing ------------------------------------------------------------------


def test_http_1_1_keeps_the_connection_open_between_requests(server: EmulatorServer) -> None:
    raw = f"GET {GROUPS} HTTP/1.1\r\n\r\n".encode() + get(f"{GROUPS}/prod")
    first, second = answers(server, raw)
    assert (first.status, "connection" in first.headers) == (200, False)
    assert (second.status, second.headers["connection"]) == (200, "close")


def test_http_1_0_asking_for_keep_alive_keeps_the_connection_open(
    server: EmulatorServer,
) -> None:
    raw = (
        f"GET {GROUPS}/prod HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        f"GET {GROUPS}/nope HTTP/1.0\r\n\r\n"
    ).encode()
    first, second = answers(server, raw)
    assert (first.status, "connection" in first.headers) == (200, False)
    assert (second.status, second.headers["connection"]) == (404, "close")


def test_a_connection_header_is_read_in_any_case(server: EmulatorServer) -> None:
    raw = f"GET {GROUPS} HTTP/1.1\r\nConnection: Close\r\n\r\n".encode()
    assert answer(server, raw).headers["connection"] == "close"


def test_a_client_that_hangs_up_mid_request_leaves_the_server_serving(
    server: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    with connect(server) as sock:
        sock.sendall(f"POST {GROUPS} HTTP/1.1\r\nContent-Length: 100\r\n\r\n{{".encode())
    assert answer(server, get(GROUPS)).status == 200
    assert "Traceback" not in capfd.readouterr().err


# --- the answer ------------------------------------------------------------------------------


def test_an_answer_carries_the_server_a_date_in_gmt_and_its_length(
    server: EmulatorServer,
) -> None:
    response = answer(server, get(f"{GROUPS}/prod"))
    date = email.utils.parsedate_to_datetime(response.headers["date"])
    assert (date.tzinfo, response.headers["date"][-4:]) == (datetime.UTC, " GMT")
    assert response.headers["server"].startswith("BaseHTTP/")
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.body) > 0


def test_a_204_answer_has_no_length_and_no_body(server: EmulatorServer) -> None:
    body = b'{"name": "fresh"}'
    raw = (
        f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    text = everything(server, raw)
    head, _, rest = text.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"content-length" not in head.lower()
    assert rest == b""


def test_the_answer_to_a_head_has_the_gets_length_and_no_body(server: EmulatorServer) -> None:
    path = "/api/preview/insights/acme/accounts/aws-prod"
    full = answer(server, get(path))
    text = everything(server, f"HEAD {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    head, _, rest = text.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(full.body)}".encode() in head
    assert rest == b""


# --- requests the server refuses -------------------------------------------------------------


def test_an_unknown_method_is_501_with_an_error_page_and_the_connection_closed(
    server: EmulatorServer,
) -> None:
    response = answer(server, f"BREW {GROUPS} HTTP/1.1\r\n\r\n".encode())
    assert (response.status, response.headers["connection"]) == (501, "close")
    assert response.headers["content-type"].startswith("text/html")
    assert server.requests == []


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/9.9"])
def test_an_http_version_past_1_is_refused_with_a_505_page(
    server: EmulatorServer, version: str
) -> None:
    text = everything(server, f"GET {GROUPS} {version}\r\n\r\n".encode())
    assert b"Error code: 505" in text
    assert server.requests == []


def test_a_request_line_of_four_words_is_refused_with_a_400_page(
    server: EmulatorServer,
) -> None:
    text = everything(server, f"GET {GROUPS} HTTP/1.1 extra\r\n\r\n".encode())
    assert b"Error code: 400" in text
    assert server.requests == []


def test_a_request_line_without_a_version_is_answered_once_and_closed(
    server: EmulatorServer,
) -> None:
    text = everything(server, f"GET {GROUPS}/prod\r\n\r\n".encode())
    head, _, body = text.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in head
    assert json.loads(body)["name"] == "prod"
