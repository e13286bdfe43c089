"""`pgsync drift` end to end against the emulator: 0 in sync, 2 on drift, 1 on error, never 3."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

PROD = {"name": "prod", "stacks": ["web/prod"]}


def drift(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, ["drift", *args, "--api-url", server.url])


def write(path: Path, groups: list[dict[str, Any]], **top: Any) -> str:
    path.write_text(json.dumps({"organization": "acme", **top, "policyGroups": groups}))
    return str(path)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def in_sync() -> Iterator[EmulatorServer]:
    """The organization with group `prod` live exactly as PROD declares it."""
    with EmulatorServer(fixture_from_dict(org_spec([PROD]))) as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository, the working directory, whose HEAD declares PROD in groups.yaml."""
    git(tmp_path, "init", "-q")
    write(tmp_path / "groups.yaml", [PROD])
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- exit codes ------------------------------------------------------------------------------


def test_files_that_match_the_live_groups_exit_0(in_sync: EmulatorServer, tmp_path: Path) -> None:
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("No drift.")


def test_a_live_change_made_outside_the_files_exits_2(
    in_sync: EmulatorServer, tmp_path: Path
) -> None:
    in_sync.mutate("acme", "prod", {"addStack": {"name": "dev", "routingProject": "web"}})
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]))
    assert result.exit_code == 2, result.output
    assert "  - stack web/dev" in result.output


def test_a_declared_group_missing_live_exits_2(in_sync: EmulatorServer, tmp_path: Path) -> None:
    new = {"name": "new", "stacks": ["web/dev"]}
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD, new]))
    assert result.exit_code == 2, result.output
    assert "+ new" in result.output


def test_an_undeclared_live_group_is_drift_only_when_the_files_prune(tmp_path: Path) -> None:
    other = {"name": "other", "stacks": []}
    with EmulatorServer(fixture_from_dict(org_spec([PROD, other]))) as server:
        kept = drift(server, write(tmp_path / "a.yaml", [PROD]))
        pruned = drift(server, write(tmp_path / "b.yaml", [PROD], prune=True))
    assert (kept.exit_code, pruned.exit_code) == (0, 2)
    assert "- other" in pruned.output


def test_drift_that_the_safety_rules_would_block_still_exits_2(tmp_path: Path) -> None:
    # A plan of these files exits 3: pruning every group is over the delete limit.
    groups = [{"name": f"g{i}", "stacks": []} for i in range(5)]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        path = write(tmp_path / "groups.yaml", [], prune=True)
        planned = CliRunner().invoke(cli, ["plan", path, "--api-url", server.url])
        result = drift(server, path)
    assert planned.exit_code == 3, planned.output
    assert result.exit_code == 2, result.output


def test_drift_writes_nothing(in_sync: EmulatorServer, tmp_path: Path) -> None:
    in_sync.mutate("acme", "prod", {"addStack": {"name": "dev", "routingProject": "web"}})
    new = {"name": "new", "stacks": ["web/dev"]}
    assert drift(in_sync, write(tmp_path / "groups.yaml", [new], prune=True)).exit_code == 2
    assert in_sync.writes() == []


def test_invalid_files_exit_1_at_file_line_col_before_any_request(
    in_sync: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text("organization: acme\npolicyGroups:\n  - name: metadata\n")
    result = drift(in_sync, str(path))
    assert result.exit_code == 1
    assert f"{path}:3:11: error: 'metadata' cannot be a group name" in result.output
    assert in_sync.requests == []


def test_an_api_error_exits_1_naming_the_request(in_sync: EmulatorServer, tmp_path: Path) -> None:
    in_sync.inject_fault(
        method="GET", path=r"/policygroups$", status=400, body={"code": 400, "message": "nope"}
    )
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]))
    assert result.exit_code == 1
    assert result.output == "error: GET /api/orgs/acme/policygroups: HTTP 400: nope\n"


# --- formats ---------------------------------------------------------------------------------


def test_json_drift_exits_2_and_lists_the_groups_to_change(
    in_sync: EmulatorServer, tmp_path: Path
) -> None:
    in_sync.mutate("acme", "prod", {"addStack": {"name": "dev", "routingProject": "web"}})
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]), "--format", "json")
    assert result.exit_code == 2, result.output
    shown = json.loads(result.output)
    changed = [g["name"] for g in shown["groups"] if g["action"] not in ("unchanged", "unmanaged")]
    assert changed == ["prod"]
    assert "drift" not in shown["groups"][0]


def test_json_in_sync_exits_0_with_the_coverage(in_sync: EmulatorServer, tmp_path: Path) -> None:
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]), "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["writeRequests"] == 0
    assert shown["coverage"]["total_stacks"] == 203


def test_markdown_drift_exits_2(in_sync: EmulatorServer, tmp_path: Path) -> None:
    in_sync.mutate("acme", "prod", {"addStack": {"name": "dev", "routingProject": "web"}})
    result = drift(in_sync, write(tmp_path / "groups.yaml", [PROD]), "--format", "markdown")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("### pgsync drift for `acme`")


# --- --base ----------------------------------------------------------------------------------


def test_base_files_that_are_invalid_leave_the_drift_unclassified(
    repo: Path, in_sync: EmulatorServer
) -> None:
    (repo / "groups.yaml").write_text("organization: acme\npolicyGroups:\n  - name: metadata\n")
    git(repo, "commit", "-qam", "broken")
    new = {"name": "new", "stacks": []}
    result = drift(in_sync, write(repo / "groups.yaml", [PROD, new]), "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert "warning: the files at HEAD are not valid (" in result.stderr
    assert "differences are not classified" in result.stderr
    assert "Drift against" not in result.stdout


def test_base_files_that_no_longer_plan_leave_the_drift_unclassified(
    repo: Path, in_sync: EmulatorServer
) -> None:
    unknown = {
        "name": "prod",
        "stacks": ["web/prod"],
        "policyPacks": [{"name": "gone", "versionTag": "1.0.0"}],
    }
    write(repo / "groups.yaml", [unknown])
    git(repo, "commit", "-qam", "a pack since unpublished")
    new = {"name": "new", "stacks": []}
    result = drift(in_sync, write(repo / "groups.yaml", [PROD, new]), "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert "warning: the files at HEAD no longer plan against the org (" in result.stderr
    assert "differences are not classified" in result.stderr
    assert "Drift against" not in result.stdout


def test_base_that_matches_the_files_and_the_org_exits_0(
    repo: Path, in_sync: EmulatorServer
) -> None:
    result = drift(in_sync, "groups.yaml", "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert "Drift against" not in result.output


def test_a_group_only_the_base_declares_is_read_and_classified(repo: Path, tmp_path: Path) -> None:
    # Dropped from the files since the base, still live: with prune, deleting it is drift
    # that Git made.
    other = {"name": "other", "stacks": []}
    write(repo / "groups.yaml", [PROD, other], prune=True)
    git(repo, "commit", "-qam", "both")
    with EmulatorServer(fixture_from_dict(org_spec([PROD, other]))) as server:
        result = drift(server, write(repo / "groups.yaml", [PROD], prune=True), "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert "  other: change in Git not yet applied" in result.output
