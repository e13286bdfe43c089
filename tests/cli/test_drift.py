"""drift: exit codes, and each difference classified against the files at a git ref."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from builders import desired_group, live, live_group, stacks, state
from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.core.diff import diff
from pgsync.core.drift import classify
from pgsync.core.model import DesiredState, LiveState
from pgsync.core.plan import build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.render.drift import render_drift


def origins(now: DesiredState, base: DesiredState, current: LiveState) -> dict[str, Any]:
    """Each changed group's origin, and its differences' (the creation or deletion first)."""
    drifts = classify(diff(now, current), diff(base, current))
    return {name: (d.origin, d.action, d.changes) for name, d in drifts.items()}


def test_a_change_only_in_git_is_git() -> None:
    current = live(live_group("a", stacks=stacks("w/1")))
    now = state(desired_group("a", stacks=stacks("w/2")))
    base = state(desired_group("a", stacks=stacks("w/1")))
    assert origins(now, base, current) == {"a": ("git", None, ("git", "git"))}


def test_a_change_only_live_is_live() -> None:
    current = live(live_group("a", stacks=stacks("w/1", "w/9")))
    declared = state(desired_group("a", stacks=stacks("w/1")))
    assert origins(declared, declared, current) == {"a": ("live", None, ("live",))}


def test_each_difference_of_one_group_has_its_own_origin() -> None:
    current = live(live_group("a", stacks=stacks("w/9")))
    now = state(desired_group("a", stacks=stacks("w/2")))
    base = state(desired_group("a", stacks=stacks("w/1")))
    drift = classify(diff(now, current), diff(base, current))["a"]
    subjects = [c.subject for c in diff(now, current)[0].changes]
    shown = dict(zip(subjects, drift.changes, strict=True))
    # w/9 joined live; w/2 is new in Git; w/1, which left live, Git no longer wants.
    assert (shown, drift.origin) == ({"w/9": "live", "w/2": "git"}, "both")


def test_one_subject_changed_in_git_and_live_is_both() -> None:
    current = live(live_group("a", agent_pool_id="pool-live"))
    now = state(desired_group("a", agent_pool_id="pool-new"))
    base = state(desired_group("a", agent_pool_id="pool-old"))
    assert origins(now, base, current) == {"a": ("both", None, ("both",))}


def test_a_rename_in_git_is_git() -> None:
    current = live(live_group("prod"))
    now = state(desired_group("production", previously=("prod",)))
    base = state(desired_group("prod"))
    assert origins(now, base, current) == {"production": ("git", None, ("git",))}


def test_a_group_new_in_git_is_git() -> None:
    now = state(desired_group("a", stacks=stacks("w/1")))
    assert origins(now, state(), live()) == {"a": ("git", "git", ("git",))}


def test_a_group_deleted_in_git_is_git() -> None:
    current = live(live_group("a"))
    now = state(desired_group("a", absent=True))
    assert origins(now, state(desired_group("a")), current) == {"a": ("git", "git", ())}


def test_a_group_deleted_live_but_declared_in_both_is_live() -> None:
    declared = state(desired_group("a"))
    assert origins(declared, declared, live()) == {"a": ("live", "live", ())}


def test_a_group_deleted_live_and_changed_in_git_is_both_with_each_difference() -> None:
    now = state(desired_group("a", stacks=stacks("w/1", "w/2")))
    base = state(desired_group("a", stacks=stacks("w/1")))
    assert origins(now, base, live()) == {"a": ("both", "live", ("live", "git"))}


def test_a_group_deleted_live_and_renamed_in_git_is_found_under_its_former_name() -> None:
    now = state(desired_group("production", previously=("prod",)))
    base = state(desired_group("prod"))
    assert origins(now, base, live()) == {"production": ("live", "live", ())}


def test_a_group_of_mixed_origins_lists_its_creation_and_each_change() -> None:
    now = state(desired_group("a", stacks=stacks("w/1", "w/2")))
    base = state(desired_group("a", stacks=stacks("w/1")))
    verdicts = diff(now, live())
    drifts = classify(verdicts, diff(base, live()))
    assert render_drift(drifts, build_plan("acme", verdicts), "HEAD") == (
        "\nDrift against HEAD:\n"
        "  a: changed in Git and live:\n"
        "      + create the group: changed live outside Git\n"
        "      + stack w/1: changed live outside Git\n"
        "      + stack w/2: change in Git not yet applied\n"
    )


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


@pytest.fixture
def moved(repo: Path) -> Iterator[EmulatorServer]:
    """Groups a, b, c in sync at HEAD; since: a and c changed in Git, b and c changed live."""
    in_sync = {"a": ["web/prod"], "b": ["web/prod"], "c": ["web/prod"]}
    live_groups: list[dict[str, Any]] = [{"name": n, "stacks": s} for n, s in in_sync.items()]
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc(in_sync))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "policygroups" / "groups.yaml").write_text(
        groups_doc({"a": ["web/prod", "web/dev"], "b": ["web/prod"], "c": ["payments/prod"]})
    )
    with EmulatorServer(fixture_from_dict(org_spec(live_groups))) as server:
        server.mutate("acme", "b", {"addStack": {"name": "dev", "routingProject": "web"}})
        server.mutate("acme", "c", {"addStack": {"name": "s001", "routingProject": "svc"}})
        yield server


def test_drift_labels_each_difference_against_the_base(moved: EmulatorServer) -> None:
    result = drift(moved, "policygroups/", "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "Drift against HEAD:\n"
        "  a: change in Git not yet applied\n"
        "  b: changed live outside Git\n"
        "  c: changed in Git and live:\n"
        "      - stack svc/s001: changed live outside Git\n"
        "      - stack web/prod: change in Git not yet applied\n"
        "      + stack payments/prod: change in Git not yet applied\n"
    )


def test_drift_labels_each_difference_in_markdown(moved: EmulatorServer) -> None:
    result = drift(moved, "policygroups/", "--base", "HEAD", "--format", "markdown")
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "#### Drift against `HEAD`\n\n"
        "- `a`: change in Git not yet applied\n"
        "- `b`: changed live outside Git\n"
        "- `c`: changed in Git and live:\n"
        "  - `- stack svc/s001`: changed live outside Git\n"
        "  - `- stack web/prod`: change in Git not yet applied\n"
        "  - `+ stack payments/prod`: change in Git not yet applied\n"
    )


def test_drift_json_labels_each_group_and_each_change(moved: EmulatorServer) -> None:
    shown = json.loads(drift(moved, "policygroups/", "--base", "HEAD", "--format", "json").output)
    labels = {
        g["name"]: (g["drift"], [(c["kind"], c["value"]["name"], c["drift"]) for c in g["changes"]])
        for g in shown["groups"]
        if "drift" in g
    }
    assert labels == {
        "a": ("git", [("addStack", "dev", "git")]),
        "b": ("live", [("removeStack", "dev", "live")]),
        "c": (
            "both",
            [
                ("removeStack", "s001", "live"),
                ("removeStack", "prod", "git"),
                ("addStack", "prod", "git"),
            ],
        ),
    }


def test_drift_is_headed_drift_not_plan(moved: EmulatorServer) -> None:
    lines = drift(moved, "policygroups/").output.splitlines()
    assert lines[0] == 'pgsync drift for organization "acme" (1 file read)'
    assert lines[-1].startswith("Drift: 0 to create, 3 to update,")


def test_drift_in_markdown_is_headed_drift(moved: EmulatorServer) -> None:
    output = drift(moved, "policygroups/", "--format", "markdown").output
    assert output.startswith("### pgsync drift for `acme` (1 file read)\n")


def test_drift_in_sync_exits_0_with_coverage(repo: Path) -> None:
    doc = {"a": ["web/prod"]}
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc(doc))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a", "stacks": ["web/prod"]}]))) as s:
        result = drift(s, "policygroups/", "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert "Coverage: " in result.output
    assert result.output.splitlines()[-1].startswith("No drift. The live policy groups match")


def test_drift_with_an_unknown_ref_names_it_and_exits_1(repo: Path) -> None:
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc({"a": []}))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        result = drift(server, "policygroups/", "--base", "origin/mian")
        assert server.requests == []
    assert result.exit_code == 1
    assert result.output == (
        "error: --base origin/mian: no such commit in this repository "
        "(git fetch it, or check the name)\n"
    )


def test_drift_base_outside_a_git_repository_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "groups.yaml").write_text(groups_doc({"a": []}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        result = drift(server, "groups.yaml", "--base", "HEAD")
    assert result.exit_code == 1
    assert result.output == (
        f"error: --base HEAD: {tmp_path} is not in a git repository "
        "(run drift in the checkout that holds the files)\n"
    )


def test_drift_with_files_new_since_the_ref_counts_them_as_git_changes(repo: Path) -> None:
    (repo / "README").write_text("x")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "policygroups" / "groups.yaml").write_text(groups_doc({"new": ["web/prod"]}))
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        result = drift(server, "policygroups/", "--base", "HEAD")
    assert result.exit_code == 2
    assert "  new: change in Git not yet applied" in result.output
