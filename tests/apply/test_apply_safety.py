"""Apply under the safety rules: gates, no-gap replace, concurrent changes, journal, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.apply.runner import apply_plan
from pgsync.cli.main import cli
from pgsync.core.diff import diff
from pgsync.core.errors import ApplyFailed
from pgsync.core.plan import build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy

MANDATORY_AWS = {
    "name": "aws",
    "versionTag": "1.0.0",
    "config": {"all": {"enforcementLevel": "mandatory"}},
}


def write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", **doc}))
    return str(path)


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def prod(mode: str = "preventative", **extra: Any) -> dict[str, Any]:
    return {
        "name": "prod",
        "mode": mode,
        "stacks": ["web/prod"],
        "policyPacks": [MANDATORY_AWS],
        **extra,
    }


def test_blocked_change_exits_3_on_plan_and_apply_and_writes_nothing(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([prod()]))) as server:
        path = write(tmp_path, {"policyGroups": [{**prod(), "policyPacks": []}]})
        planned = pgsync(server, "plan", path)
        applied = pgsync(server, "apply", path, "--yes")
        assert (planned.exit_code, applied.exit_code) == (3, 3)
        assert "✗ blocked mandatory-loss:prod:aws" in applied.output
        assert server.writes() == []
        allowed = pgsync(server, "apply", path, "--yes", "--allow", "mandatory-loss:prod:aws")
        assert allowed.exit_code == 0, allowed.output
        assert "✓ allowed mandatory-loss:prod:aws" in allowed.output


def test_json_plan_lists_blocked_findings_with_ids(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([prod()]))) as server:
        path = write(tmp_path, {"policyGroups": [prod("audit")]})
        shown = json.loads(pgsync(server, "plan", path, "--format", "json").stdout)
    assert shown["blocked"] == [
        {
            "id": "replace:prod",
            "rule": "replace",
            "reason": "'prod' is replaced (stacks/preventative → stacks/audit): "
            "violations will no longer block deployments",
        }
    ]
    group = next(g for g in shown["groups"] if g["name"] == "prod")
    assert group["action"] == "replace" and group["safety"][0]["blocked"] is True


def test_replace_fills_and_verifies_the_new_group_before_deleting_the_old(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([prod()]))) as server:
        path = write(tmp_path, {"policyGroups": [prod("audit")]})
        result = pgsync(server, "apply", path, "--yes", "--allow", "replace:prod")
        assert result.exit_code == 0, result.output
        log = [(r.method, r.path) for r in server.requests]
        final = server.group("acme", "prod")
        assert server.group("acme", "prod.pgsync-replacing") is None
    temp = "/api/orgs/acme/policygroups/prod.pgsync-replacing"
    writes = [entry for entry in log if entry[0] != "GET"]
    assert writes == [
        ("POST", "/api/orgs/acme/policygroups"),
        ("PATCH", f"{temp}/batch"),
        ("DELETE", "/api/orgs/acme/policygroups/prod"),
        ("PATCH", temp),
    ]
    # The new group was read back (verified) between filling it and deleting the old one.
    fill, delete = log.index(("PATCH", f"{temp}/batch")), log.index(writes[2])
    assert ("GET", temp) in log[fill:delete]
    assert final is not None and final["mode"] == "audit"
    assert final["stacks"] == [{"name": "prod", "routingProject": "web"}]
    assert [p["name"] for p in final["appliedPolicyPacks"]] == ["aws"]


def test_interrupted_replace_is_finished_by_the_next_apply(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([prod()]))) as server:
        path = write(tmp_path, {"policyGroups": [prod("audit")]})
        server.inject_fault(method="DELETE", status=400, body={"code": 400, "message": "nope"})
        first = pgsync(server, "apply", path, "--yes", "--allow", "replace:prod")
        assert first.exit_code == 1
        assert server.group("acme", "prod.pgsync-replacing") is not None
        assert server.group("acme", "prod") is not None  # still protecting its stacks
        second = pgsync(server, "apply", path, "--yes", "--allow", "replace:prod")
        assert second.exit_code == 0, second.output
        assert server.group("acme", "prod.pgsync-replacing") is None
        final = server.group("acme", "prod")
        again = pgsync(server, "plan", path, "--detailed-exitcode")
    assert final is not None and final["mode"] == "audit"
    assert again.exit_code == 0


def test_group_changed_between_plan_and_write_is_skipped_and_reported() -> None:
    live = [{"name": "a", "stacks": []}, {"name": "b", "stacks": []}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        client = Client(server.url, None, retry=RetryPolicy(attempts=1))
        api = PolicyGroupsApi(client, "acme")
        doc = {
            "organization": "acme",
            "policyGroups": [
                {"name": "a", "stacks": ["web/prod"]},
                {"name": "b", "stacks": ["web/prod"]},
            ],
        }
        desired_path = Path(os.environ["PGSYNC_JOURNAL"]).with_name("d.yaml")
        desired_path.write_text(json.dumps(doc))
        desired = load_desired([desired_path])
        state = api.read_live_state(desired)
        plan = build_plan("acme", diff(desired, state))
        server.mutate("acme", "a", {"addStack": {"name": "dev", "routingProject": "web"}})
        with pytest.raises(ApplyFailed) as raised:
            apply_plan(plan, api, state.catalog)
        group_a = server.group("acme", "a")
        group_b = server.group("acme", "b")
        client.close()
    assert "skipped       update  a: it changed live since the plan was made" in str(raised.value)
    assert "done          update  b" in str(raised.value)
    assert group_a is not None and group_a["stacks"] == [{"name": "dev", "routingProject": "web"}]
    assert group_b is not None and group_b["stacks"] == [{"name": "prod", "routingProject": "web"}]


def test_journal_records_each_step_without_bodies(tmp_path: Path) -> None:
    journal = Path(os.environ["PGSYNC_JOURNAL"])
    secret = {"name": "aws", "versionTag": "1.0.0", "config": {"db": {"password": "HUNTER2"}}}
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        path = write(tmp_path, {"policyGroups": [{"name": "g", "policyPacks": [secret]}]})
        assert pgsync(server, "apply", path, "--yes").exit_code == 0
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "start",
        "intended",
        "sent",
        "intended",
        "sent",
        "confirmed",
        "end",
    ]
    assert events[-1]["ok"] is True
    assert "HUNTER2" not in journal.read_text()
    assert all("body" not in e for e in events)


def test_kill_mid_sequential_apply_then_resume_reports_and_converges(tmp_path: Path) -> None:
    """One group at a time (a create, then a batch each): killed while g07's batch is in
    flight, after 15 writes, the first group is done; the batch itself still lands."""
    journal = tmp_path / "journal.jsonl"
    names = [f"g{i:02d}" for i in range(30)]
    groups = [{"name": n, "stacks": [f"svc/s{i:03d}"]} for i, n in enumerate(names)]
    path = write(tmp_path, {"policyGroups": groups})
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        held = server.hold(method="PATCH", path="/policygroups/g07/batch$")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pgsync",
                "apply",
                path,
                "--yes",
                "--journal",
                str(journal),
                "--parallelism",
                "1",
                "--api-url",
                server.url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert held.wait_arrived(timeout=60)
        sent_before = len(server.writes())
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        held.release()
        made = len(server.writes())
        assert (sent_before, made) == (15, 16)
        resumed = CliRunner().invoke(
            cli, ["apply", path, "--yes", "--resume", str(journal), "--api-url", server.url]
        )
        assert resumed.exit_code == 0, resumed.output
        server.clear_requests()
        again = pgsync(server, "apply", path, "--yes")
        assert again.exit_code == 0 and server.writes() == []
        created = [server.group("acme", name) for name in names]
    assert "did not finish" in resumed.output
    assert "g00: done and verified" in resumed.output
    assert all(g is not None and len(g["stacks"]) == 1 for g in created)
