"""drift: exit codes, and each difference classified against the files at a git ref."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from builders import desired_group, live, live_group, stacks, state
from conftest import org_spec
from pgsync.cli import cli
from pgsync.diff import diff
from pgsync.drift import classify
from pgsync.emulator import EmulatorServer, fixture_from_dict


def test_git_only_change_is_classified_git() -> None:
    current = live(live_group("a", stacks=stacks("w/1")))
    now, base = (
        state(desired_group("a", stacks=stacks("w/2"))),
        state(desired_group("a", stacks=stacks("w/1"))),
    )
    assert classify(diff(now, current), diff(base, current), now, base) == {"a": "git"}


def test_live_only_change_is_classified_live() -> None:
    current = live(live_group("a", stacks=stacks("w/1", "w/9")))
    declared = state(desired_group("a", stacks=stacks("w/1")))
    assert classify(diff(declared, current), diff(declared, current), declared, declared) == {
        "a": "live"
    }


def test_change_in_both_is_classified_both() -> None:
    current = live(live_group("a", stacks=stacks("w/9")))
    now, base = (
        state(desired_group("a", stacks=stacks("w/2"))),
        state(desired_group("a", stacks=stacks("w/1"))),
    )
    assert classify(diff(now, current), diff(base, current), now, base) == {"a": "both"}


def test_rename_in_git_is_a_git_change() -> None:
    current = live(live_group("prod"))
    now = state(desired_group("production", previously=("prod",)))
    base = state(desired_group("prod"))
    assert classify(diff(now, current), diff(base, current), now, base) == {"production": "git"}


def test_group_deleted_live_but_declared_in_both_is_live() -> None:
    declared = state(desired_group("a"))
    assert classify(diff(declared, live()), diff(declared, live()), declared, declared) == {
        "a": "live"
    }


# --- end to end, with a real git repository ----------------------------------------------


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def groups_doc(groups: dict[str, list[str]]) -> str:
    body = [{"name": name, "stacks": members} for name, members in groups.items()]
    return json.dumps({"organization": "acme", "policyGroups": body})


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "policygroups").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def drift(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, ["drift", *args, "--api-url", server.url])


def test_drift_classifies_git_live_and_both(repo: Path) -> None:
    in_sync = {"a": ["web/prod"], "b": ["web/prod"], "c": ["web/prod"]}
    live_groups: list[dict[str, Any]] = [{"name": n, "stacks": s} for n, s in in_sync.items()]
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc(in_sync))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "policygroups" / "groups.yaml").write_text(
        groups_doc({"a": ["web/prod", "web/dev"], "b": ["web/prod"], "c": ["payments/prod"]})
    )
    with EmulatorServer(fixture_from_dict(org_spec(live_groups))) as server:
        assert drift(server, "policygroups/").exit_code == 2
        server.mutate("acme", "b", {"addStack": {"name": "dev", "routingProject": "web"}})
        server.mutate("acme", "c", {"addStack": {"name": "s001", "routingProject": "svc"}})
        result = drift(server, "policygroups/", "--base", "HEAD")
        shown = json.loads(
            drift(server, "policygroups/", "--base", "HEAD", "--format", "json").output
        )
    assert result.exit_code == 2, result.output
    assert "Drift against HEAD:" in result.output
    assert "  a: change in Git not yet applied" in result.output
    assert "  b: changed live outside Git" in result.output
    assert "  c: changed in Git and live" in result.output
    assert {g["name"]: g.get("drift") for g in shown["groups"] if "drift" in g} == {
        "a": "git",
        "b": "live",
        "c": "both",
    }


def test_drift_in_sync_exits_0_with_coverage(repo: Path) -> None:
    doc = {"a": ["web/prod"]}
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc(doc))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a", "stacks": ["web/prod"]}]))) as s:
        result = drift(s, "policygroups/", "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert "Coverage: " in result.output


def test_drift_with_an_unknown_ref_exits_1(repo: Path) -> None:
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc({"a": []}))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        result = drift(server, "policygroups/", "--base", "no-such-ref")
    assert result.exit_code == 1
    assert "error: git rev-parse" in result.output


def test_drift_with_files_new_since_the_ref_counts_them_as_git_changes(repo: Path) -> None:
    (repo / "README").write_text("x")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc({"new": ["web/prod"]}))
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        result = drift(server, "policygroups/", "--base", "HEAD")
    assert result.exit_code == 2
    assert "  new: change in Git not yet applied" in result.output
