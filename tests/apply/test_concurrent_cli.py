"""pgsync beside a concurrent `pulumi policy group edit`: it never loses what it does not own.

The CLI's edit reads the group and sends one plain PATCH with whole lists (pulumi/pulumi
pkg/cmd/pulumi/policy/policy_group_edit.go; the replay in tests/data/replays/cli-edit.json).
Here it runs at the worst moments: after pgsync planned, and between pgsync's re-read of a
group and its write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from conftest import org_spec
from pgsync.apply.runner import apply_plan
from pgsync.core.diff import diff
from pgsync.core.errors import ApplyFailed
from pgsync.core.model import LiveGroup
from pgsync.core.plan import Plan, Request, build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy


def cli_edit(url: str, group: str, *, add_stacks: list[str]) -> None:
    """`pulumi policy group edit GROUP --add-stack P/S ...`: GET, then one whole-list PATCH."""
    path = f"/api/orgs/acme/policygroups/{quote(group, safe='')}"
    with httpx.Client(base_url=url) as http:
        live = http.get(path).raise_for_status().json()
        stacks = live["stacks"] + [
            {"name": s.split("/")[1], "routingProject": s.split("/")[0]} for s in add_stacks
        ]
        http.patch(path, json={"stacks": stacks}).raise_for_status()


class EditBeforeEachWrite:
    """The API seam of apply, with the CLI's edit landing after the re-read, before the write."""

    def __init__(self, api: PolicyGroupsApi, url: str, group: str, stack: str) -> None:
        self.api, self.url, self.group, self.stack = api, url, group, stack
        self.organization = api.organization
        self.edited = False

    def get_group(self, name: str) -> LiveGroup | None:
        return self.api.get_group(name)

    def send(self, request: Request) -> None:
        if not self.edited and request.path.endswith("/batch"):
            cli_edit(self.url, self.group, add_stacks=[self.stack])
            self.edited = True
        self.api.send(request)


class EditAroundEachWrite(EditBeforeEachWrite):
    """The CLI reads the group before pgsync's write and sends its whole list after it."""

    def send(self, request: Request) -> None:
        if self.edited or not request.path.endswith("/batch"):
            self.api.send(request)
            return
        path = f"/api/orgs/acme/policygroups/{quote(self.group, safe='')}"
        with httpx.Client(base_url=self.url) as http:
            stale = http.get(path).raise_for_status().json()["stacks"]
            self.api.send(request)
            added = {"name": self.stack.split("/")[1], "routingProject": self.stack.split("/")[0]}
            http.patch(path, json={"stacks": [*stale, added]}).raise_for_status()
        self.edited = True


def planned(
    server: EmulatorServer, tmp_path: Path, groups: list[dict[str, Any]]
) -> tuple[Plan, PolicyGroupsApi]:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    desired = load_desired([path])
    api = PolicyGroupsApi(Client(server.url, None, retry=RetryPolicy(attempts=1)), "acme")
    state = api.read_live_state(desired)
    return build_plan("acme", diff(desired, state)), api


def stack_names(server: EmulatorServer, group: str) -> set[str]:
    found = server.group("acme", group)
    assert found is not None
    return {f"{s['routingProject']}/{s['name']}" for s in found["stacks"]}


PACK = {"name": "aws", "versionTag": "1.3.0", "enforcementLevel": "mandatory"}


@pytest.mark.parametrize("parallelism", [1, 2])
def test_edit_after_the_plan_makes_apply_skip_and_report_the_group(
    tmp_path: Path, parallelism: int
) -> None:
    live = [{"name": "Team A", "stacks": ["web/prod"]}, {"name": "b", "stacks": []}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        plan, api = planned(
            server,
            tmp_path,
            [
                {"name": "Team A", "stacks": ["web/prod"], "policyPacks": [PACK]},
                {"name": "b", "stacks": ["web/dev"]},
            ],
        )
        cli_edit(server.url, "Team A", add_stacks=["payments/prod"])
        catalog = api.read_live_state(load_desired([tmp_path / "groups.yaml"])).catalog
        with pytest.raises(ApplyFailed) as raised:
            apply_plan(plan, api, catalog, parallelism=parallelism)
        kept = stack_names(server, "Team A")
        api.client.close()
    assert "skipped       update  Team A: it changed live since the plan was made" in str(
        raised.value
    )
    assert "done          update  b" in str(raised.value)
    assert kept == {"web/prod", "payments/prod"}


def test_edit_of_a_list_pgsync_does_not_manage_survives_its_write(tmp_path: Path) -> None:
    live = [{"name": "Team A", "stacks": ["web/prod"]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        plan, api = planned(server, tmp_path, [{"name": "Team A", "policyPacks": [PACK]}])
        racing = EditBeforeEachWrite(api, server.url, "Team A", "payments/prod")
        report = apply_plan(
            plan, racing, api.read_live_state(load_desired([tmp_path / "groups.yaml"])).catalog
        )
        group = server.group("acme", "Team A")
        api.client.close()
    assert racing.edited
    assert [o.status for o in report.outcomes] == ["done"]
    assert group is not None
    assert stack_names(server, "Team A") == {"web/prod", "payments/prod"}
    assert [p["versionTag"] for p in group["appliedPolicyPacks"]] == ["1.3.0"]


def test_edit_of_a_list_pgsync_owns_is_kept_and_reported_not_fought(tmp_path: Path) -> None:
    live = [{"name": "Team A", "stacks": ["web/prod"]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        plan, api = planned(
            server, tmp_path, [{"name": "Team A", "stacks": ["web/prod", "web/dev"]}]
        )
        racing = EditBeforeEachWrite(api, server.url, "Team A", "payments/prod")
        with pytest.raises(ApplyFailed) as raised:
            apply_plan(
                plan, racing, api.read_live_state(load_desired([tmp_path / "groups.yaml"])).catalog
            )
        kept = stack_names(server, "Team A")
        api.client.close()
    # pgsync sends single adds and removes, never a whole list: the CLI's stack stays, and
    # the read-back says the group is not yet as declared instead of removing it blindly.
    assert kept == {"web/prod", "web/dev", "payments/prod"}
    assert "needs 1 change: removeStack payments/prod" in str(raised.value)


def test_an_edit_that_reverts_pgsyncs_write_is_caught_by_the_read_back(tmp_path: Path) -> None:
    live = [{"name": "Team A", "stacks": ["web/prod"]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        plan, api = planned(
            server, tmp_path, [{"name": "Team A", "stacks": ["web/prod", "web/dev"]}]
        )
        racing = EditAroundEachWrite(api, server.url, "Team A", "payments/prod")
        catalog = api.read_live_state(load_desired([tmp_path / "groups.yaml"])).catalog
        with pytest.raises(ApplyFailed) as raised:
            apply_plan(plan, racing, catalog)
        kept = stack_names(server, "Team A")
        api.client.close()
    # The CLI's stale whole list undid pgsync's add: apply does not claim success.
    assert kept == {"web/prod", "payments/prod"}
    assert "read-back still needs 2 changes" in str(raised.value)
