"""Temporary groups known by the journal: this checkout's are rolled back, others' left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from builders import desired_group, live, live_group, state
from conftest import org_spec
from pgsync.apply.journal import own_temporaries, read_events, temporaries_left
from pgsync.cli.main import cli
from pgsync.core.diff import diff
from pgsync.emulator import EmulatorServer, fixture_from_dict

TEMP = "prod.pgsync-replacing"
TEMP_PATH = f"/api/orgs/acme/policygroups/{TEMP}"
AWS = {"name": "aws", "versionTag": "1.0.0", "config": {"all": {"enforcementLevel": "mandatory"}}}
LIVE_PROD = {"name": "prod", "stacks": ["web/prod", "web/dev"], "policyPacks": [AWS]}
REPLACE_PROD = {"policyGroups": [{"name": "prod", "mode": "audit"}]}
WITHOUT_PROD = {"policyGroups": [{"name": "team-a", "stacks": []}]}


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps({"organization": "acme", **doc}))
    return str(path)


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def stack_names(group: dict[str, Any] | None) -> list[str]:
    assert group is not None
    return sorted(f"{s['routingProject']}/{s['name']}" for s in group["stacks"])


def interrupted_replace(server: EmulatorServer, config: Path, fault: str) -> None:
    """This checkout's replace of `prod`, stopped by a 400 on the PATCH matching `fault`."""
    write(config, REPLACE_PROD)
    server.inject_fault(method="PATCH", path=fault, status=400)
    first = pgsync(server, "apply", str(config), "--yes", "--allow", "replace:prod")
    assert first.exit_code == 1, first.output
    assert server.group("acme", TEMP) is not None


def deletes(server: EmulatorServer) -> list[str]:
    return [r.path for r in server.writes() if r.method == "DELETE"]


def test_diff_deletes_an_undeclared_temporary_group_it_is_told_is_its_own() -> None:
    current = live(live_group("prod"), live_group(TEMP))
    found = diff(state(desired_group("team-a")), current, frozenset({TEMP}))
    assert [(v.name, v.action) for v in found if v.name == TEMP] == [(TEMP, "delete")]


def test_diff_keeps_its_own_temporary_group_when_it_is_the_only_copy() -> None:
    # The old group is gone already: deleting the temporary group would delete the group.
    found = diff(state(desired_group("team-a")), live(live_group(TEMP)), frozenset({TEMP}))
    (verdict,) = [v for v in found if v.name == TEMP]
    assert verdict.action == "unmanaged"
    assert "this is its only copy: left in place" in verdict.notes[0]


def test_diff_leaves_an_undeclared_temporary_group_not_told_its_own() -> None:
    others = frozenset({"qa.pgsync-replacing"})
    found = diff(state(desired_group("team-a")), live(live_group(TEMP)), others)
    assert [(v.name, v.action) for v in found if v.name == TEMP] == [(TEMP, "unmanaged")]


def test_plan_rolls_back_this_checkouts_temporary_group_of_a_dropped_group(
    tmp_path: Path,
) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        write(config, WITHOUT_PROD)
        planned = pgsync(server, "plan", str(config))
    assert planned.exit_code == 0, planned.output
    assert f"- {TEMP}" in planned.output
    assert "the journal shows this checkout starting" in planned.output
    assert "these files do not declare" not in planned.output


def test_apply_deletes_this_checkouts_temporary_group_of_a_dropped_group(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        write(config, WITHOUT_PROD)
        applied = pgsync(server, "apply", str(config), "--yes")
        temp, old = server.group("acme", TEMP), server.group("acme", "prod")
        sent = deletes(server)
    assert applied.exit_code == 0, applied.output
    assert temp is None
    assert sent == [TEMP_PATH]
    assert stack_names(old) == ["web/dev", "web/prod"]  # undeclared, prune off: left alone


def test_a_temporary_group_the_journal_does_not_know_stays_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        other = tmp_path / "other"
        other.mkdir()
        monkeypatch.setenv("PGSYNC_JOURNAL", str(other / "journal.jsonl"))
        b = write(other / "b.yaml", WITHOUT_PROD)
        applied = pgsync(server, "apply", b, "--yes")
        temp = server.group("acme", TEMP)
        sent = deletes(server)
    assert applied.exit_code == 0, applied.output
    assert f"! {TEMP}: the temporary group of a replace that these files do not declare" in (
        applied.output
    )
    assert sent == []
    assert stack_names(temp) == []


def test_pgsync_journal_takes_precedence_over_the_default_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        write(config, WITHOUT_PROD)
        assert Path(os.environ["PGSYNC_JOURNAL"]) == tmp_path / "pgsync-journal.jsonl"
        monkeypatch.setenv("PGSYNC_JOURNAL", str(tmp_path / "elsewhere.jsonl"))
        planned = pgsync(server, "plan", str(config))
    assert f"! {TEMP}: the temporary group of a replace that these files do not declare" in (
        planned.output
    )


def test_plan_without_pgsync_journal_reads_the_default_journal_that_apply_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSYNC_JOURNAL")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    config = checkout / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        write(config, WITHOUT_PROD)
        planned = pgsync(server, "plan", str(config))
    assert f"- {TEMP}" in planned.output


def test_a_saved_plan_with_the_rollback_applies(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    saved = str(tmp_path / "plan.json")
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        write(config, WITHOUT_PROD)
        assert pgsync(server, "plan", str(config), "--out", saved).exit_code == 0
        applied = pgsync(server, "apply", str(config), "--yes", "--plan", saved)
        temp = server.group("acme", TEMP)
    assert applied.exit_code == 0, applied.output
    assert temp is None


def test_a_finished_replace_leaves_no_temporary_group_in_the_journal(tmp_path: Path) -> None:
    config = write(tmp_path / "a.yaml", REPLACE_PROD)
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        applied = pgsync(server, "apply", config, "--yes", "--allow", "replace:prod")
    assert applied.exit_code == 0, applied.output
    events = read_events(os.environ["PGSYNC_JOURNAL"])
    assert any(e.get("method") == "POST" and e.get("action") == "replace" for e in events)
    assert temporaries_left(events, "acme") == frozenset()


def test_a_rolled_back_temporary_group_leaves_the_journal(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        journal = os.environ["PGSYNC_JOURNAL"]
        assert own_temporaries(journal, "acme") == {TEMP}
        write(config, WITHOUT_PROD)
        assert pgsync(server, "apply", str(config), "--yes").exit_code == 0
    assert own_temporaries(journal, "acme") == frozenset()


def test_a_temporary_group_made_in_another_organization_does_not_count(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
    journal = os.environ["PGSYNC_JOURNAL"]
    assert own_temporaries(journal, "acme") == {TEMP}
    assert own_temporaries(journal, "globex") == frozenset()


def test_a_missing_journal_knows_no_temporary_group(tmp_path: Path) -> None:
    assert own_temporaries(tmp_path / "none.jsonl", "acme") == frozenset()


def test_a_replace_stopped_before_the_fill_finishes_into_the_full_group(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}/batch$")
        assert stack_names(server.group("acme", TEMP)) == []
        rerun = pgsync(server, "apply", str(config), "--yes", "--allow", "replace:prod")
        final, temp = server.group("acme", "prod"), server.group("acme", TEMP)
    assert rerun.exit_code == 0, rerun.output
    assert temp is None
    assert final is not None and final["mode"] == "audit"
    assert stack_names(final) == ["web/dev", "web/prod"]
    assert [p["name"] for p in final["appliedPolicyPacks"]] == ["aws"]


def test_a_replace_stopped_before_the_rename_finishes_into_the_full_group(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_replace(server, config, rf"/{TEMP}$")
        assert server.group("acme", "prod") is None
        rerun = pgsync(server, "apply", str(config), "--yes", "--allow", "replace:prod")
        final = server.group("acme", "prod")
    assert rerun.exit_code == 0, rerun.output
    assert final is not None and final["mode"] == "audit"
    assert stack_names(final) == ["web/dev", "web/prod"]
    assert [p["name"] for p in final["appliedPolicyPacks"]] == ["aws"]


@pytest.mark.parametrize("organization", [".", "..", "acme/x", "../acme"])
def test_import_refuses_an_organization_that_would_change_the_url_path(
    emulator: EmulatorServer, organization: str
) -> None:
    result = pgsync(emulator, "import", "--org", organization)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --org '{organization}': expected an organization name without '/' or spaces,"
        " not '.' or '..'\n"
    )
    assert emulator.requests == []
