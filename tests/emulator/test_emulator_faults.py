"""Random fault mixes of the emulator over real HTTP: each kind, determinism, log, settings."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, FixtureError, demo_fixture, fixture_from_dict
from pgsync.emulator.app import Request
from pgsync.emulator.faults import KINDS, FaultInjector, FaultMix, jittered
from pgsync.emulator.fixture import load_fixture

GROUPS = "/api/orgs/acme/policygroups"
NEW_GROUP = {"name": "fresh", "entityType": "stacks"}


def mix(*kinds: str, rate: float = 1.0, seed: int = 1, **settings: Any) -> FaultMix:
    return FaultMix(seed=seed, rate=rate, kinds=kinds, **settings)


def faults_of(server: EmulatorServer) -> list[str | None]:
    return [r.fault for r in server.requests]


# --- each kind ---------------------------------------------------------------------------------


def test_429_carries_retry_after_and_has_no_effect(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("429", retry_after=2))
    response = client.delete(f"{GROUPS}/sandbox")
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")
    assert response.json() == {"code": 429, "message": "Too many requests"}
    assert server.group("acme", "sandbox") is not None
    assert faults_of(server) == ["429"]


def test_retry_after_is_whole_seconds_rounded_up(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("429", retry_after=0.2))
    assert client.get(GROUPS).headers["retry-after"] == "1"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_answers_the_status_without_effect(
    server: EmulatorServer, client: httpx.Client, status: int
) -> None:
    server.set_faults(mix(str(status)))
    assert client.get(GROUPS).status_code == status
    assert client.delete(f"{GROUPS}/sandbox").json() == {
        "code": status,
        "message": "Injected fault",
    }
    assert server.group("acme", "sandbox") is not None
    assert [(r.status, r.fault) for r in server.requests] == [(status, str(status))] * 2


def test_reset_closes_a_read_without_an_answer(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("reset"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(GROUPS)
    assert [(r.status, r.fault) for r in server.requests] == [(0, "reset")]


def test_reset_of_a_write_happens_before_or_after_its_effect_as_logged(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("reset"))
    for index in range(12):
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(GROUPS, json={"name": f"g{index}", "entityType": "stacks"})
    logged = [r.fault for r in server.requests]
    assert set(logged) == {"reset (after effect)", "reset (no effect)"}
    for index, fault in enumerate(logged):
        exists = server.group("acme", f"g{index}") is not None
        assert exists == (fault == "reset (after effect)")


def test_slow_body_sends_the_headers_before_its_first_pause(
    server: EmulatorServer, client: httpx.Client
) -> None:
    # A pause far past the client's 5 s read timeout: headers sent only after one would
    # time the client out, so no clock of the test's own is needed.
    length = len(client.get(f"{GROUPS}/prod").content)
    server.set_faults(mix("slow-body", slow_body_seconds=30))
    with client.stream("GET", f"{GROUPS}/prod") as response:
        assert (response.status_code, response.headers["content-length"]) == (200, str(length))
    assert server.requests[-1].fault == "slow-body"


def test_slow_body_trickles_the_whole_body_after_a_pause_per_piece(
    server: EmulatorServer, client: httpx.Client
) -> None:
    expected = client.get(f"{GROUPS}/prod").content
    server.set_faults(mix("slow-body", slow_body_seconds=0.05))
    started = time.monotonic()
    with client.stream("GET", f"{GROUPS}/prod") as response:
        body = b"".join(response.iter_raw())
    assert time.monotonic() - started >= 4 * 0.05
    assert (response.status_code, body) == (200, expected)
    assert server.requests[-1].fault == "slow-body"


def test_slow_body_of_a_head_is_just_the_head(server: EmulatorServer, client: httpx.Client) -> None:
    # Nothing to trickle: a pause per piece would hold the answer back for nothing.
    server.set_faults(mix("slow-body", slow_body_seconds=30))
    response = client.head("/api/preview/insights/acme/accounts/aws-prod", timeout=10)
    assert (response.status_code, response.content, server.requests[-1].fault) == (
        200,
        b"",
        "slow-body",
    )


def test_slow_body_slower_than_the_read_timeout_times_the_client_out(
    server: EmulatorServer,
) -> None:
    # A pause far past the timeout: a client slowed by a loaded machine still gives up first.
    server.set_faults(mix("slow-body", slow_body_seconds=30))
    with httpx.Client(base_url=server.url, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
        http.get(GROUPS)


def test_timeout_holds_the_answer_back(server: EmulatorServer, client: httpx.Client) -> None:
    server.set_faults(mix("timeout", hang_seconds=0.3))
    started = time.monotonic()
    assert client.get(GROUPS).status_code == 200
    assert time.monotonic() - started >= 0.3
    server.set_faults(mix("timeout", hang_seconds=30))
    with httpx.Client(base_url=server.url, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
        http.get(GROUPS)
    assert faults_of(server) == ["timeout", "timeout"]


def test_timeout_of_a_write_took_effect_or_answers_504_without(server: EmulatorServer) -> None:
    server.set_faults(mix("timeout", hang_seconds=0.05))
    with httpx.Client(base_url=server.url, timeout=5) as http:
        statuses = [
            http.post(GROUPS, json={"name": f"g{i}", "entityType": "stacks"}).status_code
            for i in range(10)
        ]
    logged = [r.fault for r in server.requests]
    assert set(logged) == {"timeout (after effect)", "timeout (no effect)"}
    for index, (fault, status) in enumerate(zip(logged, statuses, strict=True)):
        took_effect = fault == "timeout (after effect)"
        assert (server.group("acme", f"g{index}") is not None) == took_effect
        assert status == (204 if took_effect else 504)


def test_drop_write_answers_204_and_does_nothing(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("drop-write"))
    assert client.post(GROUPS, json=NEW_GROUP).status_code == 204
    assert client.delete(f"{GROUPS}/sandbox").status_code == 204
    assert server.group("acme", "fresh") is None
    assert server.group("acme", "sandbox") is not None
    assert faults_of(server) == ["drop-write", "drop-write"]


def test_after_effect_5xx_does_the_write_then_answers_503(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("after-effect-5xx"))
    assert client.delete(f"{GROUPS}/sandbox").status_code == 503
    assert server.group("acme", "sandbox") is None
    assert faults_of(server) == ["after-effect-5xx"]


def test_kinds_apply_only_where_they_can(server: EmulatorServer, client: httpx.Client) -> None:
    server.set_faults(mix("drop-write", "after-effect-5xx", "slow-body", slow_body_seconds=0.01))
    for _ in range(6):
        assert client.get(GROUPS).status_code == 200
        client.post(GROUPS, json=NEW_GROUP)
    reads, writes = server.requests[::2], server.requests[1::2]
    assert {r.fault for r in reads} == {"slow-body"}
    assert {r.fault for r in writes} == {"drop-write", "after-effect-5xx"}


def test_write_only_kinds_leave_reads_alone(server: EmulatorServer, client: httpx.Client) -> None:
    server.set_faults(mix("drop-write"))
    assert client.get(GROUPS).status_code == 200
    assert faults_of(server) == [None]


# --- rate, determinism, log ----------------------------------------------------------------------


def run_sequence(server: EmulatorServer) -> list[tuple[str | None, int]]:
    """A fixed sequence of reads and writes; what each met."""
    with httpx.Client(base_url=server.url, timeout=5) as http:
        for index in range(40):
            try:
                if index % 3 == 0:
                    http.post(GROUPS, json={"name": f"g{index}", "entityType": "stacks"})
                else:
                    http.get(f"{GROUPS}/prod")
            except httpx.TransportError:
                pass
    return [(r.fault, r.status) for r in server.requests]


QUICK_KINDS = ("429", "500", "502", "503", "504", "reset", "drop-write", "after-effect-5xx")


def test_same_seed_and_requests_meet_the_same_faults() -> None:
    runs = []
    for seed in (7, 7, 8):
        with EmulatorServer(demo_fixture(), faults=mix(*QUICK_KINDS, rate=0.5, seed=seed)) as srv:
            runs.append(run_sequence(srv))
    assert runs[0] == runs[1] != runs[2]
    assert 10 < sum(fault is not None for fault, _ in runs[0]) < 30


def test_set_faults_starts_the_seed_afresh_and_none_stops_them(server: EmulatorServer) -> None:
    server.set_faults(mix(*QUICK_KINDS, rate=0.5))
    first = run_sequence(server)
    server.clear_requests()
    server.set_faults(mix(*QUICK_KINDS, rate=0.5))
    assert [fault for fault, _ in run_sequence(server)] == [fault for fault, _ in first]
    server.clear_requests()
    server.set_faults(None)
    assert server.faults is None
    assert {fault for fault, _ in run_sequence(server)} == {None}


def test_rate_0_injects_nothing() -> None:
    with EmulatorServer(demo_fixture(), faults=mix(*KINDS, rate=0.0)) as srv:
        met = run_sequence(srv)
    assert {fault for fault, _ in met} == {None}
    assert {status for _, status in met} <= {200, 204, 409}


def test_rate_draws_roughly_that_share() -> None:
    injector = FaultInjector(mix("503", rate=0.2, seed=3))
    request = Request("GET", GROUPS)
    hits = sum(injector.draw(request).kind is not None for _ in range(2000))
    assert 340 < hits < 460


def test_queued_faults_win_over_the_mix_and_are_logged(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(mix("429"))
    server.inject_fault(method="DELETE", status=500, after_effect=True)
    server.inject_fault(method="GET", drop_connection=True)
    assert client.delete(f"{GROUPS}/sandbox").status_code == 500
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(GROUPS)
    assert client.get(GROUPS).status_code == 429
    assert faults_of(server) == ["injected 500 after effect", "injected reset", "429"]


# --- latency -------------------------------------------------------------------------------------


def test_jitter_is_uniform_within_bounds_and_seeded() -> None:
    rng_a, rng_b = random.Random(5), random.Random(5)
    a = [jittered(rng_a, 0.1, 0.05) for _ in range(200)]
    assert a == [jittered(rng_b, 0.1, 0.05) for _ in range(200)]
    assert all(0.05 <= d <= 0.15 for d in a) and max(a) - min(a) > 0.08
    assert min(jittered(rng_a, 0.01, 0.05) for _ in range(50)) == 0


def test_mix_latency_with_jitter_delays_every_request() -> None:
    injector = FaultInjector(mix("503", rate=0, latency=0.2, jitter=0.1))
    assert all(0.1 <= injector.draw(Request("GET", GROUPS)).delay <= 0.3 for _ in range(50))
    slow = mix("503", rate=0, latency=0.1, jitter=0.05)
    with EmulatorServer(demo_fixture(), faults=slow) as srv, httpx.Client(base_url=srv.url) as http:
        for _ in range(3):
            started = time.monotonic()
            http.get(GROUPS)
            assert time.monotonic() - started >= 0.05


def test_set_latency_takes_a_jitter(server: EmulatorServer, client: httpx.Client) -> None:
    server.set_latency(0.1, jitter=0.05)
    started = time.monotonic()
    client.get(GROUPS)
    assert time.monotonic() - started >= 0.05
    with pytest.raises(ValueError, match="negative"):
        server.set_latency(0.1, jitter=-1)


# --- settings: the mix, fixtures, the command --------------------------------------------------


def test_a_mix_refuses_unknown_kinds_and_bad_numbers() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        mix("418")
    with pytest.raises(ValueError, match="at least one"):
        mix()
    with pytest.raises(ValueError, match="between 0 and 1"):
        mix("503", rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        mix("503", latency=-1)


def test_fixture_faults_become_the_servers_mix(tmp_path: Path) -> None:
    data = {
        "faults": {
            "rate": 1,
            "kinds": [503, "reset"],
            "seed": 4,
            "latency": 0.01,
            "jitter": 0.005,
            "retryAfter": 3,
            "slowBodySeconds": 0.2,
            "hangSeconds": 2,
        },
        "organizations": {"acme": None},
    }
    fixture = fixture_from_dict(data)
    assert fixture.faults == FaultMix(4, 1.0, ("503", "reset"), 0.01, 0.005, 3.0, 0.2, 2.0)
    path = tmp_path / "fixture.yaml"
    path.write_text(yaml.safe_dump({"faults": {"rate": 1, "kinds": [503]}, **data}))
    with EmulatorServer(load_fixture(path)) as srv, httpx.Client(base_url=srv.url) as http:
        assert http.get(GROUPS).status_code == 503
    assert fixture_from_dict({"organizations": {}}).faults is None


def test_fixture_faults_default_to_every_kind_and_no_faults() -> None:
    faults = fixture_from_dict({"faults": {}, "organizations": {}}).faults
    assert faults == FaultMix(0, 0.0, KINDS)


@pytest.mark.parametrize(
    ("faults", "where"),
    [({"kinds": ["418"]}, "kinds"), ({"rate": 2}, "rate"), ({"speed": 1}, "faults")],
)
def test_bad_fixture_faults_are_reported(faults: dict[str, Any], where: str) -> None:
    with pytest.raises(FixtureError, match=where):
        fixture_from_dict({"faults": faults, "organizations": {}})


def test_emulator_flags_override_the_fixtures_faults(tmp_path: Path) -> None:
    path = tmp_path / "fixture.yaml"
    path.write_text(
        yaml.safe_dump(
            {"faults": {"rate": 1, "kinds": [429], "seed": 2}, "organizations": {"acme": None}}
        )
    )
    args = ["--fixture", str(path), "--faults", "503", "--fault-seed", "9", "--latency", "0.01"]
    process = subprocess.Popen(
        [sys.executable, "-m", "pgsync", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" at ")[1].split(";")[0]
        described = process.stdout.readline().strip()
        assert described == "faults: 100% of requests fail (503), seed 9; latency 0.01s ± 0s"
        assert httpx.get(f"{url}{GROUPS}").status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulator_refuses_unknown_fault_kinds() -> None:
    result = CliRunner().invoke(cli, ["emulator", "--faults", "429,teapot"])
    assert result.exit_code == 1  # pgsync's usage errors exit 1 (contract §3)
    assert "unknown fault kind(s) teapot" in result.output
