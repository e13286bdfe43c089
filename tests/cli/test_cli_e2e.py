"""End to end: the real `pgsync` command against the real emulator on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clirun import THREE_GROUPS, groups_file, pgsync, write
from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict


def test_apply_creates_groups_from_empty_with_one_post_and_one_batch_each(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes")
    assert result.exit_code == 0, result.output
    writes = [(w.method, w.path) for w in emulator.writes()]
    assert writes.count(("POST", "/api/orgs/acme/policygroups")) == 3
    assert len(writes) == 6
    production = emulator.group("acme", "production")
    assert production is not None
    assert production["appliedPolicyPacks"][0]["config"] == {
        "all": {"enforcementLevel": "mandatory"}
    }
    assert "Apply complete: 3 groups changed with 6 write requests" in result.output


def test_second_apply_sends_no_writes(emulator: EmulatorServer, tmp_path: Path) -> None:
    path = write(tmp_path, THREE_GROUPS)
    assert pgsync(emulator, "apply", path, "--yes").exit_code == 0
    emulator.clear_requests()
    result = pgsync(emulator, "apply", path, "--yes")
    assert result.exit_code == 0
    assert emulator.writes() == []
    assert "No changes." in result.output


def test_adding_120_stacks_is_one_batch_request(emulator: EmulatorServer, tmp_path: Path) -> None:
    path = groups_file(tmp_path, [{"name": "big", "stacks": []}])
    assert pgsync(emulator, "apply", path, "--yes").exit_code == 0
    emulator.clear_requests()
    stacks = [f"svc/s{i:03d}" for i in range(120)]
    result = pgsync(
        emulator, "apply", groups_file(tmp_path, [{"name": "big", "stacks": stacks}]), "--yes"
    )
    assert result.exit_code == 0, result.output
    (batch,) = emulator.writes()
    assert (batch.method, batch.path) == ("PATCH", "/api/orgs/acme/policygroups/big/batch")
    assert isinstance(batch.body, list) and len(batch.body) == 120
    group = emulator.group("acme", "big")
    assert group is not None and len(group["stacks"]) == 120


def test_pack_upgrade_is_a_lone_add_and_takes_effect(tmp_path: Path) -> None:
    live = [
        {
            "name": "prod",
            "policyPacks": [
                {
                    "name": "aws",
                    "versionTag": "1.0.0",
                    "config": {"p": {"x": 1}},
                    "environments": ["e/old"],
                }
            ],
        }
    ]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        path = groups_file(
            tmp_path, [{"name": "prod", "policyPacks": [{"name": "aws", "versionTag": "1.3.0"}]}]
        )
        result = pgsync(server, "apply", path, "--yes")
        assert result.exit_code == 0, result.output
        (batch,) = server.writes()
        assert batch.body == [
            {
                "addPolicyPack": {
                    "name": "aws",
                    "displayName": "AWS Guardrails",
                    "version": 2,
                    "versionTag": "1.3.0",
                    "config": {},
                    "environments": [],
                }
            }
        ]
        group = server.group("acme", "prod")
    assert group is not None
    assert [(p["versionTag"], p["version"]) for p in group["appliedPolicyPacks"]] == [("1.3.0", 2)]
    assert "config" not in group["appliedPolicyPacks"][0]
    assert "~ pack aws 1.0.0 → 1.3.0" in result.output


def test_rename_keeps_the_group_and_its_members(tmp_path: Path) -> None:
    live = [{"name": "prod", "stacks": ["web/prod"]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        path = groups_file(tmp_path, [{"name": "production", "previously": ["prod"]}])
        result = pgsync(server, "apply", path, "--yes")
        assert result.exit_code == 0, result.output
        assert [(w.method, w.body) for w in server.writes()] == [
            ("PATCH", {"newName": "production"})
        ]
        assert server.group("acme", "prod") is None
        group = server.group("acme", "production")
    assert group is not None and group["stacks"] == [{"name": "prod", "routingProject": "web"}]


def test_undeclared_group_is_left_alone_without_prune(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "manual"}]))) as server:
        result = pgsync(server, "apply", groups_file(tmp_path, []), "--yes")
        assert result.exit_code == 0
        assert server.writes() == []
        assert server.group("acme", "manual") is not None
    assert "Unmanaged (live, not declared, left alone): " in result.output


def test_prune_deletes_undeclared_groups_but_never_default_groups(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "manual"}]))) as server:
        result = pgsync(
            server,
            "apply",
            groups_file(tmp_path, [], prune=True),
            "--yes",
            "--allow",
            "delete:manual",
        )
        assert result.exit_code == 0, result.output
        assert [(w.method, w.path) for w in server.writes()] == [
            ("DELETE", "/api/orgs/acme/policygroups/manual")
        ]
        assert server.group("acme", "default-policy-group") is not None
        assert server.group("acme", "default-accounts-policy-group") is not None


def test_deleting_a_default_group_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = groups_file(tmp_path, [{"name": "default-policy-group", "state": "absent"}])
    result = pgsync(emulator, "apply", path, "--yes")
    assert result.exit_code == 1
    assert f"{path}:1:" in result.output
    assert emulator.requests == []


def test_bad_token_fails_with_the_status_and_never_shows_the_token(tmp_path: Path) -> None:
    sentinel = "pul-WRONG-TOKEN-abcdef0123456789"
    with EmulatorServer(fixture_from_dict(org_spec()), token="pul-right") as server:
        result = pgsync(
            server,
            "plan",
            write(tmp_path, THREE_GROUPS),
            "-v",
            env={"PULUMI_ACCESS_TOKEN": sentinel},
        )
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert sentinel not in result.output


def test_invalid_yaml_exits_1_with_position_and_sends_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: [unclosed\n")
    result = pgsync(emulator, "apply", path, "--yes")
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:")
    assert "Traceback" not in result.output
    assert emulator.requests == []


def test_unknown_pack_is_reported_at_its_line_and_nothing_is_written(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: prod
            policyPacks:
              - name: nope
                versionTag: "1.0.0"
        """,
    )
    result = pgsync(emulator, "apply", path, "--yes")
    assert result.exit_code == 1
    assert f"{path}:5:15: error: unknown policy pack 'nope'" in result.output
    assert emulator.writes() == []


def test_unknown_stack_is_reported_by_validate_live(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: p\n    stacks: [x/y]\n")
    assert pgsync(emulator, "validate", path).exit_code == 0
    result = pgsync(emulator, "validate", "--live", path)
    assert result.exit_code == 1
    assert f"{path}:4:14: error: unknown stack 'x/y'" in result.output


def test_unknown_account_is_reported_by_plan_and_nothing_is_written(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "organization: acme\npolicyGroups:\n  - name: a\n    mode: audit\n"
        "    accounts: [aws-prod/nope]\n",
    )
    result = pgsync(emulator, "apply", "--yes", path)
    assert result.exit_code == 1
    assert f"{path}:5:16: error: unknown Insights account 'aws-prod/nope'" in result.output
    assert emulator.writes() == []


def test_apply_without_terminal_or_yes_refuses_and_writes_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS))
    assert result.exit_code == 1
    assert "pass --yes" in result.output
    assert emulator.writes() == []


def test_detailed_exitcode_is_2_with_changes_and_0_without(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, THREE_GROUPS)
    assert pgsync(emulator, "plan", path, "--detailed-exitcode").exit_code == 2
    assert pgsync(emulator, "plan", path).exit_code == 0
    assert pgsync(emulator, "drift", path).exit_code == 2
    assert pgsync(emulator, "apply", path, "--yes").exit_code == 0
    assert pgsync(emulator, "plan", path, "--detailed-exitcode").exit_code == 0
    assert pgsync(emulator, "drift", path).exit_code == 0


def test_saved_plan_is_applied_when_nothing_changed(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, THREE_GROUPS)
    out = tmp_path / "plan.json"
    assert pgsync(emulator, "plan", path, "--out", str(out)).exit_code == 0
    saved = json.loads(out.read_text())
    assert saved["summary"]["create"] == 3
    result = pgsync(emulator, "apply", path, "--yes", "--plan", str(out))
    assert result.exit_code == 0, result.output


def test_saved_plan_is_refused_after_a_live_change(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "production"}]))) as server:
        path = write(tmp_path, THREE_GROUPS)
        out = tmp_path / "plan.json"
        assert pgsync(server, "plan", path, "--out", str(out)).exit_code == 0
        server.mutate("acme", "production", {"addStack": {"name": "dev", "routingProject": "web"}})
        server.clear_requests()
        result = pgsync(server, "apply", path, "--yes", "--plan", str(out))
        assert result.exit_code == 1
        assert "group 'production': changed live since the plan was made" in result.output
        assert "    now also needed: removeStack web/dev" in result.output
        assert server.writes() == []


def test_saved_plan_is_refused_for_other_input_files(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert pgsync(emulator, "plan", write(tmp_path, THREE_GROUPS), "--out", str(out)).exit_code == 0
    other = write(tmp_path, THREE_GROUPS.replace("web/dev", "svc/s001"), "other.yaml")
    result = pgsync(emulator, "apply", other, "--yes", "--plan", str(out))
    assert result.exit_code == 1
    assert "input files differ" in result.output
    assert emulator.writes() == []


def test_json_plan_lists_the_exact_requests(emulator: EmulatorServer, tmp_path: Path) -> None:
    result = pgsync(emulator, "plan", write(tmp_path, THREE_GROUPS), "--format", "json")
    shown = json.loads(result.output)
    production = next(g for g in shown["groups"] if g["name"] == "production")
    assert [r["method"] for r in production["requests"]] == ["POST", "PATCH"]
    assert shown["writeRequests"] == 6


def test_write_that_silently_did_nothing_fails_verification(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(method="PATCH", path="/batch$", status=204)
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes", "--parallelism", "1")
    assert result.exit_code == 1
    assert "the API answered success but the read-back still needs" in result.output
    assert "not attempted" in result.output


def test_ambiguous_write_that_took_effect_is_not_resent(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(method="POST", status=503, after_effect=True)
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes")
    assert result.exit_code == 0, result.output
    assert len(emulator.writes()) == 6


def test_ambiguous_write_that_did_not_take_effect_is_sent_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(method="POST", status=503)
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes")
    assert result.exit_code == 0, result.output
    assert len(emulator.writes()) == 7


def test_token_never_appears_in_any_command_output(tmp_path: Path) -> None:
    sentinel = "pul-SENTINEL-feedfacecafebeef"
    path = write(tmp_path, THREE_GROUPS)
    out = tmp_path / "plan.json"
    with EmulatorServer(fixture_from_dict(org_spec()), token=sentinel) as server:
        env = {"PULUMI_ACCESS_TOKEN": sentinel}
        outputs = [
            pgsync(server, *args, "-v", env=env).output
            for args in (
                ("validate", "--live", path),
                ("plan", path, "--out", str(out)),
                ("plan", path, "--format", "json"),
                ("apply", path, "--yes", "--plan", str(out)),
                ("drift", path),
            )
        ]
    assert all(sentinel not in text for text in outputs)
    assert sentinel not in out.read_text()
    assert "HTTP Request" in outputs[1]


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert json.loads(result.output)["$schema"].endswith("2020-12/schema")


def test_demo_runs_the_whole_loop() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert "the second plan found nothing to change" in result.output


@pytest.mark.parametrize(
    "command", ["validate", "plan", "apply", "drift", "schema", "emulator", "demo"]
)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_failure_stops_apply_and_reports_done_failed_and_not_attempted(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(
        method="PATCH",
        path="/production/batch$",
        status=400,
        body={"code": 400, "message": "Bad Request: nope"},
    )
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes", "--parallelism", "1")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "  done          create  cloud" in lines
    assert (
        "  failed        create  production: PATCH /api/orgs/acme/policygroups/production/batch:"
        " HTTP 400: Bad Request: nope (after 1 successful request for it)" in lines
    )
    assert "  not attempted create  staging" in lines
    assert emulator.group("acme", "staging") is None
    assert pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [["plan", "--bogus", "x.yaml"], ["plan", "--format", "yaml", "x.yaml"], ["plan"], ["nope"]],
)
def test_usage_errors_exit_1_never_the_changes_pending_code(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Usage:" in result.output


def test_missing_file_is_reported_at_its_path_with_exit_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(cli, ["drift", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}:1:1: error: cannot read" in result.output


@pytest.mark.parametrize("content", ["not json", "[1]", '{"groups": [], "inputs": {"files": []}}'])
def test_saved_plan_that_is_not_a_plan_is_refused_cleanly(
    emulator: EmulatorServer, tmp_path: Path, content: str
) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(content)
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes", "--plan", str(saved))
    assert result.exit_code == 1
    assert f"error: {saved}: not a pgsync plan" in result.output
    assert emulator.writes() == []


def test_plan_out_in_a_missing_directory_creates_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "missing-dir" / "plan.json"
    result = pgsync(emulator, "plan", write(tmp_path, THREE_GROUPS), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["summary"]["create"] == 3


def test_saved_plan_refused_for_a_changed_file_names_the_file(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    first = write(tmp_path, THREE_GROUPS, "a.yaml")
    second = write(tmp_path, "organization: acme\npolicyGroups: []\n", "b.yaml")
    out = tmp_path / "plan.json"
    assert pgsync(emulator, "plan", first, second, "--out", str(out)).exit_code == 0
    write(tmp_path, THREE_GROUPS.replace("web/dev", "svc/s001"), "a.yaml")
    emulator.clear_requests()
    result = pgsync(emulator, "apply", first, second, "--yes", "--plan", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the saved plan is stale:\n"
        "  the input files differ from the ones the plan was made from:\n"
        f"      {first}: changed since the plan was made\n"
    )
    assert emulator.requests == []


def test_saved_plan_refused_for_other_files_names_them(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    planned = write(tmp_path, THREE_GROUPS, "a.yaml")
    out = tmp_path / "plan.json"
    assert pgsync(emulator, "plan", planned, "--out", str(out)).exit_code == 0
    other = write(tmp_path, THREE_GROUPS.replace("web/dev", "svc/s001"), "other.yaml")
    result = pgsync(emulator, "apply", other, "--yes", "--plan", str(out))
    assert result.exit_code == 1
    assert f"      {other}: not read for the plan\n" in result.stderr
    assert f"      {planned}: read for the plan, not given now\n" in result.stderr


def test_saved_plan_rereads_only_the_groups_it_touches(tmp_path: Path) -> None:
    live: list[dict[str, Any]] = [
        {"name": "production"},
        {"name": "untouched", "stacks": ["web/dev"]},
    ]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        doc = THREE_GROUPS + "  - name: untouched\n    stacks: [web/dev]\n"
        path = write(tmp_path, doc)
        out = tmp_path / "plan.json"
        assert pgsync(server, "plan", path, "--out", str(out)).exit_code == 0
        server.mutate("acme", "untouched", {"addStack": {"name": "prod", "routingProject": "web"}})
        server.clear_requests()
        result = pgsync(server, "apply", path, "--yes", "--plan", str(out))
        assert result.exit_code == 0, result.output
        reads = {r.path for r in server.requests if r.method == "GET"}
    assert "/api/orgs/acme/policygroups/untouched" not in reads
    assert "/api/orgs/acme/policygroups/production" in reads


def test_saved_plan_for_other_files_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert pgsync(emulator, "plan", write(tmp_path, THREE_GROUPS), "--out", str(out)).exit_code == 0
    emulator.clear_requests()
    other = write(tmp_path, THREE_GROUPS.replace("web/dev", "svc/s002"), "other.yaml")
    result = pgsync(emulator, "apply", other, "--yes", "--plan", str(out))
    assert result.exit_code == 1
    assert emulator.requests == []
