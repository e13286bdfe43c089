"""`manage: {stacks: additive}` end to end: plan, apply, re-plan and drift against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import groups_file, pgsync
from conftest import org_spec
from pgsync.emulator import EmulatorServer, fixture_from_dict

LISTED = ["payments/prod", "web/prod"]
EXTRA = ["svc/s000", "svc/s001", "svc/s002"]
ADDITIVE = {"name": "production", "stacks": LISTED, "manage": {"stacks": "additive"}}


@pytest.fixture
def shared() -> Iterator[EmulatorServer]:
    """`production` live with web/prod and three stacks that teams attached themselves."""
    live = [{"name": "production", "stacks": ["web/prod", *EXTRA]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        yield server


def live_stacks(server: EmulatorServer) -> list[str]:
    group = server.group("acme", "production")
    assert group is not None
    return sorted(f"{s['routingProject']}/{s['name']}" for s in group["stacks"])


def test_plan_adds_the_listed_stack_and_removes_none(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(shared, "plan", groups_file(tmp_path, [ADDITIVE]), "--format", "json")
    assert result.exit_code == 0, result.output
    group = next(g for g in json.loads(result.output)["groups"] if g["name"] == "production")
    assert [(c["kind"], c["value"]) for c in group["changes"]] == [
        ("addStack", {"name": "prod", "routingProject": "payments"})
    ]
    assert group["manage"] == {"stacks": "additive"}
    assert group["leftAlone"] == {"stacks": EXTRA}


def test_text_plan_says_which_stacks_it_leaves_alone(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(shared, "plan", groups_file(tmp_path, [ADDITIVE]))
    assert result.exit_code == 0, result.output
    assert (
        "! production: leaves 3 other stacks alone (manage: additive): svc/s000, svc/s001, svc/s002"
    ) in result.output
    assert "- stack" not in result.output


def test_apply_sends_only_the_add_and_keeps_the_other_stacks(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(shared, "apply", groups_file(tmp_path, [ADDITIVE]), "--yes")
    assert result.exit_code == 0, result.output
    (batch,) = shared.writes()
    assert batch.body == [{"addStack": {"name": "prod", "routingProject": "payments"}}]
    assert live_stacks(shared) == sorted([*LISTED, *EXTRA])


def test_a_second_plan_after_apply_has_no_changes(shared: EmulatorServer, tmp_path: Path) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    assert pgsync(shared, "apply", path, "--yes").exit_code == 0
    shared.clear_requests()
    result = pgsync(shared, "plan", path, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert "leaves 3 other stacks alone" in result.output


def test_a_saved_additive_plan_applies(shared: EmulatorServer, tmp_path: Path) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    out = tmp_path / "plan.json"
    assert pgsync(shared, "plan", path, "--out", str(out)).exit_code == 0
    result = pgsync(shared, "apply", path, "--yes", "--plan", str(out))
    assert result.exit_code == 0, result.output
    assert live_stacks(shared) == sorted([*LISTED, *EXTRA])


def test_drift_ignores_the_stacks_it_leaves_alone(shared: EmulatorServer, tmp_path: Path) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    assert pgsync(shared, "apply", path, "--yes").exit_code == 0
    shared.mutate("acme", "production", {"addStack": {"name": "s003", "routingProject": "svc"}})
    result = pgsync(shared, "drift", path)
    assert result.exit_code == 0, result.output


def test_drift_reports_a_listed_stack_that_went_missing(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    assert pgsync(shared, "apply", path, "--yes").exit_code == 0
    shared.mutate("acme", "production", {"removeStack": {"name": "prod", "routingProject": "web"}})
    result = pgsync(shared, "drift", path, "--format", "json")
    assert result.exit_code == 2, result.output
    group = next(g for g in json.loads(result.output)["groups"] if g["name"] == "production")
    assert [(c["kind"], c["value"]) for c in group["changes"]] == [
        ("addStack", {"name": "prod", "routingProject": "web"})
    ]


def test_a_saved_additive_plan_still_applies_after_a_team_attaches_another_stack(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    out = tmp_path / "plan.json"
    assert pgsync(shared, "plan", path, "--out", str(out)).exit_code == 0
    shared.mutate("acme", "production", {"addStack": {"name": "s003", "routingProject": "svc"}})
    result = pgsync(shared, "apply", path, "--yes", "--plan", str(out))
    assert result.exit_code == 0, result.output
    assert live_stacks(shared) == sorted([*LISTED, *EXTRA, "svc/s003"])


def test_a_saved_additive_plan_is_refused_after_a_listed_stack_changed_live(
    shared: EmulatorServer, tmp_path: Path
) -> None:
    path = groups_file(tmp_path, [ADDITIVE])
    out = tmp_path / "plan.json"
    assert pgsync(shared, "plan", path, "--out", str(out)).exit_code == 0
    shared.mutate("acme", "production", {"removeStack": {"name": "prod", "routingProject": "web"}})
    shared.clear_requests()
    result = pgsync(shared, "apply", path, "--yes", "--plan", str(out))
    assert result.exit_code == 1
    assert "group 'production': changed live since the plan was made" in result.output
    assert shared.writes() == []
