"""Request counts pinned for representative change sets (contract §5; not timing tests)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from conftest import STACKS, org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

SVC = [s for s in STACKS if s.startswith("svc/")]


def run(server: EmulatorServer, tmp_path: Path, groups: list[dict[str, Any]], *args: str) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    result = CliRunner().invoke(cli, [*args, str(path), "--api-url", server.url])
    assert result.exit_code == 0, result.output


def counts(server: EmulatorServer) -> Counter[str]:
    return Counter(r.method for r in server.requests)


def test_plan_of_n_unchanged_groups_reads_list_details_catalog_and_nothing_else(
    tmp_path: Path,
) -> None:
    groups = [{"name": f"g{i}", "stacks": [SVC[i]]} for i in range(40)]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        run(server, tmp_path, groups, "plan")
        # 1 list + 40 details + 1 packs + 1 metadata: every declared stack is a member already
        assert counts(server) == Counter({"GET": 43})


def paths(server: EmulatorServer) -> list[str]:
    return [r.path for r in server.requests]


def test_plan_adding_stacks_of_no_group_looks_up_each_of_them(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        run(server, tmp_path, [{"name": "g", "stacks": SVC[:2]}], "plan")
        looked_up = sorted(p for p in paths(server) if p.startswith("/api/stacks/"))
        assert looked_up == ["/api/stacks/acme/svc/s000", "/api/stacks/acme/svc/s001"]
        assert "/api/user/stacks" not in paths(server)


def test_plan_adding_a_stack_another_group_holds_does_not_look_it_up(tmp_path: Path) -> None:
    live = [{"name": "a", "stacks": [SVC[0]]}, {"name": "b", "stacks": []}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        run(server, tmp_path, [live[0], {"name": "b", "stacks": [SVC[0]]}], "plan")
        assert not [p for p in paths(server) if "stacks" in p]


def test_plan_adding_more_stacks_than_the_listing_has_pages_pages_the_listing(
    tmp_path: Path,
) -> None:
    # 203 stacks are 3 pages of 100: 4 lookups would be one request more.
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        run(server, tmp_path, [{"name": "g", "stacks": SVC[:4]}], "plan")
        assert paths(server).count("/api/user/stacks") == 3
        assert not [p for p in paths(server) if p.startswith("/api/stacks/")]


def test_validate_live_chooses_between_lookups_and_the_listing_by_the_stack_count(
    tmp_path: Path,
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        run(server, tmp_path, [{"name": "g", "stacks": SVC[:4]}], "validate", "--live")
        assert "/api/orgs/acme/policygroups/metadata" in paths(server)
        assert paths(server).count("/api/user/stacks") == 3


def test_plan_adding_an_account_no_group_holds_looks_it_up(tmp_path: Path) -> None:
    audit = {"name": "g", "mode": "audit", "accounts": []}
    with EmulatorServer(fixture_from_dict(org_spec([audit]))) as server:
        run(server, tmp_path, [audit | {"accounts": ["aws-prod"]}], "plan")
        insights = [p for p in paths(server) if "insights" in p]
        assert insights == ["/api/preview/insights/acme/accounts/aws-prod"]


def test_plan_adding_more_accounts_than_the_listing_has_pages_pages_the_listing(
    tmp_path: Path,
) -> None:
    # Three accounts are one page: two lookups would be one request more.
    audit = {"name": "g", "mode": "audit", "accounts": []}
    with EmulatorServer(fixture_from_dict(org_spec([audit]))) as server:
        run(server, tmp_path, [audit | {"accounts": ["aws-prod", "gcp-data"]}], "plan")
        insights = [p for p in paths(server) if "insights" in p]
        assert insights == ["/api/preview/insights/acme/accounts"]


def test_plan_keeping_accounts_reads_no_account_listing(tmp_path: Path) -> None:
    audit = {"name": "g", "mode": "audit", "accounts": ["aws-prod"]}
    with EmulatorServer(fixture_from_dict(org_spec([audit]))) as server:
        run(server, tmp_path, [audit], "plan")
        assert not [p for p in paths(server) if "insights" in p]


def test_adding_200_stacks_to_each_of_10_groups_is_10_patches(tmp_path: Path) -> None:
    empty = [{"name": f"g{i}", "stacks": []} for i in range(10)]
    full = [{"name": f"g{i}", "stacks": SVC} for i in range(10)]
    with EmulatorServer(fixture_from_dict(org_spec(empty))) as server:
        run(server, tmp_path, full, "apply", "--yes")
        writes = server.writes()
    assert [w.method for w in writes] == ["PATCH"] * 10
    assert sum(len(w.body) for w in writes if isinstance(w.body, list)) == 2_000


def test_10000_membership_edits_in_50_groups_are_50_patches(tmp_path: Path) -> None:
    empty = [{"name": f"g{i:02d}", "stacks": []} for i in range(50)]
    full = [{"name": f"g{i:02d}", "stacks": SVC} for i in range(50)]
    with EmulatorServer(fixture_from_dict(org_spec(empty))) as server:
        run(server, tmp_path, full, "apply", "--yes")
        assert counts(server)["PATCH"] == 50
        assert sum(len(w.body) for w in server.writes() if isinstance(w.body, list)) == 10_000


def test_apply_reads_each_changed_group_twice_beyond_the_plan(tmp_path: Path) -> None:
    """One re-read just before writing (concurrent changes), one read-back (verification)."""
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        groups = [{"name": f"new{i}", "stacks": [SVC[i]]} for i in range(3)]
        run(server, tmp_path, groups, "plan")
        plan_reads = counts(server)["GET"]
        server.clear_requests()
        run(server, tmp_path, groups, "apply", "--yes")
        assert counts(server) == Counter({"GET": plan_reads + 3 * 2, "POST": 3, "PATCH": 3})


def test_one_change_is_one_write(tmp_path: Path) -> None:
    groups = [{"name": "g", "stacks": [SVC[0]]}]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        run(server, tmp_path, [{"name": "g", "stacks": SVC[:2]}], "apply", "--yes")
        (write,) = server.writes()
        assert write.method == "PATCH" and isinstance(write.body, list) and len(write.body) == 1


def test_rename_with_changes_is_one_rename_and_one_batch(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "old", "stacks": []}]))) as server:
        group = {"name": "new", "previously": ["old"], "stacks": SVC[:5]}
        run(server, tmp_path, [group], "apply", "--yes")
        assert [w.method for w in server.writes()] == ["PATCH", "PATCH"]


def test_second_apply_of_a_large_change_makes_no_write(tmp_path: Path) -> None:
    empty = [{"name": f"g{i}", "stacks": []} for i in range(10)]
    full = [{"name": f"g{i}", "stacks": SVC} for i in range(10)]
    with EmulatorServer(fixture_from_dict(org_spec(empty))) as server:
        run(server, tmp_path, full, "apply", "--yes")
        server.clear_requests()
        run(server, tmp_path, full, "apply", "--yes")
        assert server.writes() == []
