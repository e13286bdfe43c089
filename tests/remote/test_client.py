"""Client: headers, retries with backoff and Retry-After, error mapping, token redaction."""

from __future__ import annotations

import logging
import random
import socket
from email.utils import formatdate

import pytest

from conftest import org_spec
from pgsync.core.errors import AmbiguousWriteError, ApiError, AuthError, PgsyncError, TransportError
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.accesstoken import TokenFilter
from pgsync.remote.client import Client, RetryPolicy, retry_after_seconds

LIST = "/api/orgs/acme/policygroups"
SENTINEL = "pul-SENTINEL-0123456789abcdef"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(url: str, retry: RetryPolicy, sleeps: Sleeps, token: str | None = None) -> Client:
    return Client(url, token, retry=retry, sleep=sleeps, seed=1)


def test_sends_accept_user_agent_and_token_headers(fast_retry: RetryPolicy) -> None:
    with (
        EmulatorServer(fixture_from_dict(org_spec()), token=SENTINEL) as server,
        make_client(server.url, fast_retry, Sleeps(), SENTINEL) as client,
    ):
        client.get(LIST)
        (seen,) = server.requests
    assert seen.headers["accept"] == "application/vnd.pulumi+8"
    assert seen.headers["user-agent"].startswith("pgsync/")
    assert seen.status == 200


def test_missing_token_is_an_auth_error(fast_retry: RetryPolicy) -> None:
    with (
        EmulatorServer(fixture_from_dict(org_spec()), token=SENTINEL) as server,
        make_client(server.url, fast_retry, Sleeps()) as client,
        pytest.raises(AuthError),
    ):
        client.get(LIST)


def test_read_retries_429_honouring_retry_after_seconds(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=429, headers={"Retry-After": "2"}, times=2)
    sleeps = Sleeps()
    with make_client(emulator.url, fast_retry, sleeps) as client:
        body = client.get(LIST)
    assert "policyGroups" in body
    assert sleeps == [2.0, 2.0]


def test_retry_after_as_http_date_is_understood() -> None:
    later = formatdate(1_000_030.0, usegmt=True)
    assert retry_after_seconds(later, now=1_000_000.0) == pytest.approx(30.0)


def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    assert retry_after_seconds("soon", now=0.0) is None


@pytest.mark.parametrize("status", [502, 503, 504])
def test_read_retries_gateway_errors_with_backoff(
    emulator: EmulatorServer, fast_retry: RetryPolicy, status: int
) -> None:
    emulator.inject_fault(path="policygroups$", status=status, times=2)
    sleeps = Sleeps()
    with make_client(emulator.url, fast_retry, sleeps) as client:
        client.get(LIST)
    assert len(sleeps) == 2
    assert all(0 <= s <= fast_retry.max_delay for s in sleeps)


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(0)
    for attempt, ceiling in enumerate((1.0, 2.0, 4.0, 8.0, 8.0)):
        assert all(0 <= policy.backoff(attempt, rng) <= ceiling for _ in range(50))


def test_read_gives_up_after_the_attempt_limit(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=503, times=10)
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(TransportError, match="giving up after 4 attempts: HTTP 503"),
    ):
        client.get(LIST)
    assert len(emulator.requests) == 4


def test_retry_after_beyond_the_total_wait_bound_gives_up_without_sleeping(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with make_client(emulator.url, fast_retry, sleeps) as client, pytest.raises(TransportError):
        client.get(LIST)
    assert sleeps == []


def test_internal_server_error_on_read_is_not_retried(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=500, body={"code": 500, "message": "boom"})
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(ApiError, match="HTTP 500: boom"),
    ):
        client.get(LIST)
    assert len(emulator.requests) == 1


def test_api_error_carries_status_and_the_api_message(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.get("/api/orgs/nope/policygroups")
    assert raised.value.status == 404
    assert "GET /api/orgs/nope/policygroups: HTTP 404:" in str(raised.value)


def test_plain_text_error_body_is_reported_raw(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=400, body="upstream said no")
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(ApiError, match="HTTP 400: upstream said no"),
    ):
        client.get(LIST)


def test_write_is_retried_on_429(emulator: EmulatorServer, fast_retry: RetryPolicy) -> None:
    emulator.inject_fault(method="POST", status=429, headers={"Retry-After": "1"})
    sleeps = Sleeps()
    with make_client(emulator.url, fast_retry, sleeps) as client:
        client.write("POST", LIST, {"name": "g", "entityType": "stacks"})
    assert sleeps == [1.0]
    assert emulator.group("acme", "g") is not None


@pytest.mark.parametrize("status", [500, 503])
def test_write_5xx_is_ambiguous_and_never_blindly_retried(
    emulator: EmulatorServer, fast_retry: RetryPolicy, status: int
) -> None:
    emulator.inject_fault(method="POST", status=status)
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(AmbiguousWriteError),
    ):
        client.write("POST", LIST, {"name": "g", "entityType": "stacks"})
    assert len(emulator.writes()) == 1


def test_write_with_dropped_connection_is_ambiguous(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(method="POST", drop_connection=True, after_effect=True)
    with (
        make_client(emulator.url, fast_retry, Sleeps()) as client,
        pytest.raises(AmbiguousWriteError),
    ):
        client.write("POST", LIST, {"name": "g", "entityType": "stacks"})
    assert len(emulator.writes()) == 1


def test_a_write_to_a_refused_connection_is_reported_at_once(fast_retry: RetryPolicy) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with (
        make_client(f"http://127.0.0.1:{port}", fast_retry, sleeps) as client,
        pytest.raises(TransportError, match=f"cannot connect to http://127.0.0.1:{port}: conn"),
    ):
        client.write("POST", LIST, {})
    assert sleeps == []


def test_token_in_an_api_message_is_redacted(fast_retry: RetryPolicy) -> None:
    with EmulatorServer(fixture_from_dict(org_spec()), token=SENTINEL) as server:
        server.inject_fault(status=400, body={"code": 400, "message": f"bad {SENTINEL}"})
        with (
            make_client(server.url, fast_retry, Sleeps(), SENTINEL) as client,
            pytest.raises(ApiError) as raised,
        ):
            client.get(LIST)
    assert SENTINEL not in str(raised.value)
    assert "<redacted>" in str(raised.value)


def test_token_is_refused_over_plain_http_to_a_remote_host() -> None:
    with pytest.raises(PgsyncError, match="plain HTTP"):
        Client("http://api.example.com", SENTINEL)


def test_token_is_allowed_over_plain_http_to_loopback() -> None:
    Client("http://127.0.0.1:9", SENTINEL).close()
    Client("http://localhost:9", SENTINEL).close()


def test_log_filter_scrubs_the_token() -> None:
    record = logging.LogRecord("httpx", logging.INFO, "", 0, "auth %s", (SENTINEL,), None)
    TokenFilter(SENTINEL).filter(record)
    assert record.getMessage() == "auth <redacted>"


@pytest.mark.parametrize("token", [f"{SENTINEL}\n", f" {SENTINEL}", f"{SENTINEL}ö"])
def test_malformed_token_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(PgsyncError) as raised:
        Client("http://127.0.0.1:9", token)
    assert SENTINEL not in str(raised.value)


def test_body_json_cannot_carry_is_an_error_before_sending(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    client = make_client(emulator.url, fast_retry, Sleeps())
    with client, pytest.raises(PgsyncError, match="not valid JSON"):
        client.write("POST", LIST, {"name": "g", "limit": float("inf")})
    assert emulator.requests == []


def test_max_rps_spaces_requests_so_a_rate_limited_api_answers_no_429(
    fast_retry: RetryPolicy,
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec()), rate_limit=20) as server:
        with Client(server.url, None, retry=fast_retry, max_rps=20, parallelism=4) as client:
            for _ in range(30):
                client.get(LIST)
        statuses = [r.status for r in server.requests]
    assert statuses.count(429) == 0 and len(statuses) == 30


def test_emulator_rate_limit_answers_429_with_retry_after_beyond_its_rate(
    fast_retry: RetryPolicy,
) -> None:
    sleeps = Sleeps()
    with EmulatorServer(fixture_from_dict(org_spec()), rate_limit=5) as server:
        with make_client(server.url, fast_retry, sleeps) as client:
            for _ in range(5):
                client.get(LIST)
            with pytest.raises(TransportError, match="HTTP 429"):
                client.get(LIST)
        statuses = [r.status for r in server.requests]
    assert statuses == [200] * 5 + [429] * fast_retry.attempts
    assert sleeps == [1.0] * (fast_retry.attempts - 1)


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        (f"{LIST}/Prod Stacks", f"{LIST}/Prod%20Stacks"),
        (f"{LIST}/größe", f"{LIST}/gr%C3%B6%C3%9Fe"),
        (f"{LIST}/a%2Fb", f"{LIST}/a%2Fb"),
        ("/api/orgs/acme/x/../policygroups/g", f"{LIST}/g"),
    ],
    ids=["space", "non-ascii", "encoded-slash", "dot-segments"],
)
def test_a_path_is_sent_percent_encoded_and_without_dot_segments(
    emulator: EmulatorServer, fast_retry: RetryPolicy, path: str, sent: str
) -> None:
    with make_client(emulator.url, fast_retry, Sleeps()) as client:
        client.get_or_none(path)
    assert [r.path for r in emulator.requests] == [sent]


def test_query_parameters_arrive_as_given(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    params = {"organization": "acme", "continuationToken": "a b+c/d=e&f"}
    with make_client(emulator.url, fast_retry, Sleeps()) as client, pytest.raises(ApiError):
        client.get("/api/user/stacks", params=params)
    (seen,) = emulator.requests
    assert seen.query == params


def test_a_path_in_the_base_url_prefixes_every_request(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    with make_client(f"{emulator.url}/v2/", fast_retry, Sleeps()) as client:
        assert client.get_or_none(LIST) is None
    assert [r.path for r in emulator.requests] == [f"/v2{LIST}"]


def test_a_write_without_a_body_says_its_length_is_zero(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    with make_client(emulator.url, fast_retry, Sleeps()) as client, pytest.raises(ApiError):
        client.write("POST", LIST)
    (seen,) = emulator.requests
    assert seen.headers["content-length"] == "0"


def test_an_api_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(PgsyncError, match="neither https:// nor http://"):
        Client("ftp://127.0.0.1:9", None)


class Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_each_request_is_logged_with_its_url_and_status(
    emulator: EmulatorServer, fast_retry: RetryPolicy
) -> None:
    emulator.inject_fault(path="policygroups$", status=503, times=1)
    handler = Recording()
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with make_client(emulator.url, fast_retry, Sleeps()) as client:
            client.get(LIST)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage() for r in handler.records] == [
        f'HTTP Request: GET {emulator.url}{LIST} "HTTP/1.1 503 Service Unavailable"',
        f'HTTP Request: GET {emulator.url}{LIST} "HTTP/1.1 200 OK"',
    ]
