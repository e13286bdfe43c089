"""Replace and prune beside other writers: nothing pgsync does not own is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.apply.runner import apply_plan
from pgsync.cli.main import cli
from pgsync.core.diff import diff
from pgsync.core.errors import ApplyFailed
from pgsync.core.plan import Plan, Request, build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy

TEMP = "prod.pgsync-replacing"
AWS = {"name": "aws", "versionTag": "1.0.0", "config": {"all": {"enforcementLevel": "mandatory"}}}
LIVE_PROD = {"name": "prod", "stacks": ["web/prod"], "policyPacks": [AWS]}
WEB_DEV = {"name": "dev", "routingProject": "web"}


def write(directory: Path, name: str, doc: dict[str, Any]) -> str:
    path = directory / name
    path.write_text(json.dumps({"organization": "acme", **doc}))
    return str(path)


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def other_checkout(server: EmulatorServer, directory: Path, *args: str) -> Result:
    """pgsync run from another config's checkout, which has a journal of its own."""
    journal = str(directory / "other-journal.jsonl")
    return CliRunner(env={"PGSYNC_JOURNAL": journal}).invoke(cli, [*args, "--api-url", server.url])


def stack_names(group: dict[str, Any] | None) -> list[str]:
    assert group is not None
    return sorted(f"{s['routingProject']}/{s['name']}" for s in group["stacks"])


class AddsStackToOldAfterFill:
    """The API, plus someone else's addStack to the old group once the copy is filled."""

    def __init__(self, api: PolicyGroupsApi, server: EmulatorServer) -> None:
        self.api = api
        self.server = server
        self.organization = api.organization

    def get_group(self, name: str) -> Any:
        return self.api.get_group(name)

    def send(self, request: Request) -> None:
        self.api.send(request)
        if request.path.endswith(f"/{TEMP}/batch"):
            self.server.mutate("acme", "prod", {"addStack": WEB_DEV})


def plan_for(api: PolicyGroupsApi, path: str) -> tuple[Plan, Any]:
    desired = load_desired([path])
    state = api.read_live_state(desired)
    return build_plan("acme", diff(desired, state)), state.catalog


def test_change_to_the_old_group_during_a_replace_stops_it_before_the_delete(
    tmp_path: Path,
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        path = write(tmp_path, "a.yaml", {"policyGroups": [{"name": "prod", "mode": "audit"}]})
        with Client(server.url, None, retry=RetryPolicy(attempts=1)) as client:
            api = PolicyGroupsApi(client, "acme")
            plan, catalog = plan_for(api, path)
            with pytest.raises(ApplyFailed) as raised:
                apply_plan(plan, AddsStackToOldAfterFill(api, server), catalog)
        old, temp = server.group("acme", "prod"), server.group("acme", TEMP)
        deletes = [r for r in server.writes() if r.method == "DELETE"]
    assert "failed        replace prod: the old group 'prod' changed live while" in str(
        raised.value
    )
    assert raised.value.exit_code == 1
    assert deletes == []
    assert stack_names(old) == ["web/dev", "web/prod"]
    assert stack_names(temp) == ["web/prod"]


def test_the_next_apply_carries_the_change_into_the_replacement(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        path = write(tmp_path, "a.yaml", {"policyGroups": [{"name": "prod", "mode": "audit"}]})
        with Client(server.url, None, retry=RetryPolicy(attempts=1)) as client:
            api = PolicyGroupsApi(client, "acme")
            plan, catalog = plan_for(api, path)
            with pytest.raises(ApplyFailed):
                apply_plan(plan, AddsStackToOldAfterFill(api, server), catalog)
        shown = pgsync(server, "plan", path)
        again = pgsync(server, "apply", path, "--yes", "--allow", "replace:prod")
        final, temp = server.group("acme", "prod"), server.group("acme", TEMP)
    assert "web/dev" in shown.output
    assert again.exit_code == 0, again.output
    assert temp is None
    assert final is not None and final["mode"] == "audit"
    assert stack_names(final) == ["web/dev", "web/prod"]


def interrupted_before_rename(server: EmulatorServer, directory: Path) -> str:
    """Config A's replace of `prod`, stopped after the old group went, before the rename."""
    path = write(directory, "a.yaml", {"policyGroups": [{"name": "prod", "mode": "audit"}]})
    server.inject_fault(method="PATCH", path=rf"/{TEMP}$", status=400)
    first = pgsync(server, "apply", path, "--yes", "--allow", "replace:prod")
    assert first.exit_code == 1, first.output
    assert server.group("acme", "prod") is None
    assert stack_names(server.group("acme", TEMP)) == ["web/prod"]
    return path


@pytest.mark.parametrize("prune", [False, True])
def test_another_config_never_deletes_an_in_flight_temporary_group(
    tmp_path: Path, prune: bool
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        interrupted_before_rename(server, tmp_path)
        other = write(
            tmp_path, "b.yaml", {"prune": prune, "policyGroups": [{"name": "team-b", "stacks": []}]}
        )
        planned = other_checkout(server, tmp_path, "plan", other)
        applied = other_checkout(server, tmp_path, "apply", other, "--yes")
        temp = server.group("acme", TEMP)
        deletes = [r.path for r in server.writes() if r.method == "DELETE"]
    assert applied.exit_code == 0, applied.output
    assert f"! {TEMP}: the temporary group of a replace that these files do not declare" in (
        planned.output
    )
    assert deletes == ["/api/orgs/acme/policygroups/prod"]  # config A's own, nothing of B's
    assert stack_names(temp) == ["web/prod"]


@pytest.mark.parametrize("prune", [False, True])
def test_rerun_after_another_config_ran_finishes_into_the_full_group(
    tmp_path: Path, prune: bool
) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([LIVE_PROD]))) as server:
        mine = interrupted_before_rename(server, tmp_path)
        other = write(
            tmp_path, "b.yaml", {"prune": prune, "policyGroups": [{"name": "team-b", "stacks": []}]}
        )
        assert other_checkout(server, tmp_path, "apply", other, "--yes").exit_code == 0
        rerun = pgsync(server, "apply", mine, "--yes", "--allow", "replace:prod")
        final = server.group("acme", "prod")
    assert rerun.exit_code == 0, rerun.output
    assert final is not None and final["mode"] == "audit"
    assert stack_names(final) == ["web/prod"]
    assert [p["name"] for p in final["appliedPolicyPacks"]] == ["aws"]
