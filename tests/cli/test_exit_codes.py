"""Exit codes come from the exceptions (contract §3), and one wrapper turns them into exits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.cli.options import reports_errors
from pgsync.core.errors import ChangesPending, PgsyncError, SafetyBlocked
from pgsync.emulator import EmulatorServer, fixture_from_dict

CLI = Path(__file__).parents[2] / "src" / "pgsync" / "cli"
MANDATORY_AWS = {"name": "aws", "versionTag": "1.0.0", "enforcementLevel": "mandatory"}
LIVE_AWS = {
    "name": "aws",
    "versionTag": "1.0.0",
    "config": {"all": {"enforcementLevel": "mandatory"}},
}


def raising(error: BaseException) -> Result:
    """A command that raises `error`, run as pgsync runs its commands."""

    @click.command()
    @reports_errors
    def command() -> None:
        raise error

    return CliRunner().invoke(command, [])


class Teapot(PgsyncError):
    exit_code = 7


@pytest.mark.parametrize(
    ("error", "code"),
    [(PgsyncError("x"), 1), (ChangesPending(), 2), (SafetyBlocked(["delete:a"]), 3)],
)
def test_the_contract_codes_are_the_exceptions_own(error: PgsyncError, code: int) -> None:
    assert error.exit_code == code
    assert raising(error).exit_code == code


def test_a_command_exits_with_the_code_its_error_carries() -> None:
    assert raising(Teapot("short and stout")).exit_code == 7


def test_changes_pending_prints_nothing() -> None:
    result = raising(ChangesPending())
    assert (result.stdout, result.stderr) == ("", "")


def test_safety_blocked_names_the_blocking_ids_on_stderr() -> None:
    result = raising(SafetyBlocked(["delete:a", "replace:b"]))
    assert result.stderr == "error: blocked by safety rules: delete:a, replace:b\n"


def test_an_interrupt_exits_130() -> None:
    result = raising(KeyboardInterrupt())
    assert (result.exit_code, result.stderr) == (130, "error: interrupted\n")


def test_only_the_error_wrapper_and_the_entry_points_exit() -> None:
    exiting = sorted(p.name for p in CLI.glob("*.py") if re.search(r"\bsys\.exit\(", p.read_text()))
    assert exiting == ["entry.py", "main.py", "options.py"]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    live = [{"name": "prod", "stacks": ["web/prod"], "policyPacks": [LIVE_AWS]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as running:
        yield running


def pgsync(server: EmulatorServer, tmp_path: Path, *args: str, packs: list[object]) -> Result:
    path = tmp_path / "groups.yaml"
    groups = [{"name": "prod", "stacks": ["web/prod"], "policyPacks": packs}]
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    return CliRunner().invoke(cli, [args[0], str(path), *args[1:], "--api-url", server.url])


def test_plan_with_changes_and_detailed_exitcode_exits_2_saying_nothing_more(
    server: EmulatorServer, tmp_path: Path
) -> None:
    upgrade = {**MANDATORY_AWS, "versionTag": "1.3.0"}
    result = pgsync(server, tmp_path, "plan", "--detailed-exitcode", packs=[upgrade])
    assert result.exit_code == ChangesPending.exit_code
    assert "~ prod" in result.stdout and result.stderr == ""


def test_a_blocked_plan_exits_3_after_the_plan_is_shown(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(server, tmp_path, "plan", packs=[])
    assert result.exit_code == SafetyBlocked.exit_code
    assert "✗ blocked mandatory-loss:prod:aws" in result.stdout
    assert result.stderr == "error: blocked by safety rules: mandatory-loss:prod:aws\n"


def test_a_blocked_apply_exits_3_and_writes_nothing(server: EmulatorServer, tmp_path: Path) -> None:
    result = pgsync(server, tmp_path, "apply", "--yes", packs=[])
    assert result.exit_code == SafetyBlocked.exit_code
    assert server.writes() == []
