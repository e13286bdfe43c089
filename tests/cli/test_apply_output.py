"""The lines `pgsync apply` prints from apply's events: one per group outcome, then the run's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

GROUPS = "/api/orgs/acme/policygroups"
FAULT = "outcome unknown: HTTP 503: Injected fault"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_from_dict(org_spec())) as running:
        yield running


def apply(server: EmulatorServer, tmp_path: Path, *names: str) -> Result:
    groups = [{"name": n, "stacks": [f"svc/s{i:03d}"]} for i, n in enumerate(names)]
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    args = ["apply", str(path), "--yes", "--parallelism", "1", "--api-url", server.url]
    return CliRunner().invoke(cli, args)


def after_plan(output: str) -> list[str]:
    """The lines after the plan's summary line, with the run's duration as N.N."""
    tail = output.split(" write requests.\n", 1)[1]
    return re.sub(r"\(\d+\.\d+s\)", "(N.Ns)", tail).splitlines()


def test_each_group_confirmed_then_the_completion_line(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = apply(server, tmp_path, "a", "b")
    assert result.exit_code == 0, result.output
    assert after_plan(result.stdout) == [
        "  ✓ create a",
        "  ✓ create b",
        "Apply complete: 2 groups changed with 4 write requests, all verified (N.Ns).",
    ]
    assert result.stderr == ""


def test_a_failed_group_is_shown_and_the_error_lists_every_outcome(
    server: EmulatorServer, tmp_path: Path
) -> None:
    server.inject_fault(
        method="PATCH", path="/b/batch$", status=400, body={"code": 400, "message": "nope"}
    )
    result = apply(server, tmp_path, "a", "b", "c")
    assert result.exit_code == 1
    failure = f"PATCH {GROUPS}/b/batch: HTTP 400: nope (after 1 successful request for it)"
    assert after_plan(result.stdout) == ["  ✓ create a", f"  ✗ create b: {failure}"]
    assert result.stderr.splitlines() == [
        "error: apply did not complete (4 write requests sent):",
        "  done          create  a",
        f"  failed        create  b: {failure}",
        "  not attempted create  c",
        "re-run plan to see what is left; apply again to converge",
    ]


def test_an_ambiguous_write_is_shown_with_the_requests_still_needed(
    server: EmulatorServer, tmp_path: Path
) -> None:
    server.inject_fault(method="POST", status=503)
    result = apply(server, tmp_path, "a")
    assert result.exit_code == 0, result.output
    assert after_plan(result.stdout) == [
        f"  ! a: POST {GROUPS}: {FAULT}; 2 requests still needed",
        "  ✓ create a",
        "Apply complete: 1 group changed with 3 write requests, all verified (N.Ns).",
    ]


def test_a_line_break_in_an_error_cannot_start_a_line_of_its_own(
    server: EmulatorServer, tmp_path: Path
) -> None:
    server.inject_fault(
        method="POST", status=400, body={"code": 400, "message": "no\nerror: forged"}
    )
    result = apply(server, tmp_path, "a")
    assert result.exit_code == 1
    assert after_plan(result.stdout) == [
        f"  ✗ create a: POST {GROUPS}: HTTP 400: no\\x0aerror: forged"
    ]
