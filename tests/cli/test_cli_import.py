"""End to end: `pgsync import` against the real emulator, and the file it writes planned back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from conftest import STACKS, org_spec
from pgsync.cli.importing import import_command
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.importer import SCHEMA_COMMENT

ACCOUNTS = ["aws-prod", "aws-staging", "gcp-data"]
LEVELS = ["advisory", "mandatory", "disabled", "remediate"]


def pack(name: str, tag: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "versionTag": tag, **extra}


def varied_groups() -> list[dict[str, Any]]:
    """Both entity types and modes, rich configs, environments, pools and tricky names."""
    groups: list[dict[str, Any]] = [
        {
            "name": "default-policy-group",
            "agentPoolId": "pool-default",
            "policyPacks": [
                pack("aws", "1.3.0", config={"all": {"enforcementLevel": "mandatory"}}),
                pack("best", "0.9.0"),
            ],
        },
        {
            "name": "default-accounts-policy-group",
            "policyPacks": [pack("cost", "2.0.0", environments=["policy/billing"])],
        },
    ]
    for i in range(12):
        config: dict[str, Any] = {
            "all": {"enforcementLevel": LEVELS[i % 4], **({"region": "eu"} if i % 3 else {})},
            f"policy-{i}": {"enforcementLevel": LEVELS[(i + 1) % 4]},
            "ec2-instance-type": {"allowedTypes": ["t3.micro", "t3.small"][: 1 + i % 2]},
            "nested": {"limits": {"cpu": i, "memory": 1.5 * i, "tags": {"team": "yes"}}},
        }
        groups.append(
            {
                "name": f"stacks-{i:02d}",
                "mode": "audit" if i % 2 else "preventative",
                "stacks": STACKS[i * 7 : i * 7 + i],
                **({"agentPoolId": f"pool-{i}"} if i % 4 == 0 else {}),
                "policyPacks": [
                    pack("aws", "1.0.0" if i % 2 else "1.3.0", config=config),
                    *([pack("cost", "2.0.0", environments=["e/a", "e/b"])] if i % 3 == 0 else []),
                ],
            }
        )
    for i in range(6):
        groups.append(
            {
                # Audit groups hold accounts whatever their label; odd ones hold stacks too.
                "name": f"accounts-{i}",
                **({"entityType": "accounts"} if i % 3 else {"mode": "audit"}),
                **({"stacks": STACKS[i : i + 2]} if i % 2 else {}),
                "accounts": ACCOUNTS[: i % 4],
                "policyPacks": [
                    pack("best", "1.0.0", config={"p": {"enforcementLevel": "advisory"}})
                ]
                if i % 2
                else [],
            }
        )
    for name in ("yes", "1.0", "null", "Prod Stacks", "a.b c-d_e"):
        groups.append({"name": name, "stacks": ["web/dev"], "policyPacks": [pack("cost", "2.0.0")]})
    groups += [
        {"name": "by tag", "stackMatchRule": tag_equals("env", "prod")},
        {
            # No readable form for `In`: imported as {expression: ...}.
            "name": "by tag set",
            "mode": "audit",
            "stackMatchRule": {
                "__type": "PermissionExpressionIn",
                "target": {"__type": "PermissionExpressionTag", "context": STACK, "key": "env"},
                "values": {"__type": "PermissionSetExpressionString", "values": ["dev", "qa"]},
            },
            "accountMatchRule": {
                "__type": "PermissionExpressionHasTag",
                "context": {"__type": "PermissionExpressionInsightsAccount"},
                "key": "team",
            },
        },
    ]
    return groups


STACK = {"__type": "PermissionExpressionStack"}


def tag_equals(key: str, value: str) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionEqual",
        "left": {"__type": "PermissionExpressionTag", "context": STACK, "key": key},
        "right": {"__type": "PermissionLiteralExpressionString", "value": value},
    }


def import_(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(import_command, [*args, "--api-url", server.url])


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def test_import_of_a_varied_org_round_trips(tmp_path: Path) -> None:
    groups = varied_groups()
    assert len(groups) >= 20
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert (
            result.stdout == f"imported {len(groups)} groups from organization 'acme' into {out}\n"
        )
        assert server.writes() == []

        plan = pgsync(server, "plan", str(out), "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        assert f"({len(groups)} unchanged, 0 unmanaged)" in plan.stdout

        server.clear_requests()
        applied = pgsync(server, "apply", str(out), "--yes")
        assert applied.exit_code == 0, applied.output
        assert server.writes() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.yaml"]


def test_default_groups_are_exported_with_packs_but_no_members(tmp_path: Path) -> None:
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(varied_groups()))) as server:
        default = server.group("acme", "default-policy-group")
        assert default is not None and default["stacks"]
        assert import_(server, "--org", "acme", "--out", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith(SCHEMA_COMMENT)
    first, second = yaml.safe_load(text)["policyGroups"][:2]
    assert first == {
        "name": "default-policy-group",
        "agentPoolId": "pool-default",
        "policyPacks": [
            {"name": "aws", "versionTag": "1.3.0", "enforcementLevel": "mandatory"},
            {"name": "best", "versionTag": "0.9.0"},
        ],
    }
    assert second == {
        "name": "default-accounts-policy-group",
        "policyPacks": [
            {"name": "cost", "versionTag": "2.0.0", "environments": ["policy/billing"]}
        ],
    }


def test_without_out_the_file_goes_to_stdout(emulator: EmulatorServer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        import_command, ["--org", "acme", "--api-url", emulator.url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(SCHEMA_COMMENT)
    assert yaml.safe_load(result.stdout) == {
        "organization": "acme",
        "prune": False,
        "policyGroups": [
            {"name": "default-policy-group", "policyPacks": []},
            {"name": "default-accounts-policy-group", "policyPacks": []},
        ],
    }
    assert result.stderr == ""


def test_nothing_is_written_when_the_round_trip_fails(tmp_path: Path) -> None:
    # The API stores an unpublished versionTag verbatim (API spec rule 3); no file can
    # declare it, so a plan of the import would fail.
    groups = [
        {"name": "prod", "policyPacks": [pack("aws", "9.9.9")]},
        {"name": "fine", "policyPacks": [pack("aws", "1.0.0")]},
    ]
    out = tmp_path / "groups.yaml"
    out.write_text("previous content\n", encoding="utf-8")
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the exported file would not plan to zero changes, so nothing was written:\n"
        "  group 'prod': policy pack 'aws' has no versionTag '9.9.9' (published: 1.0.0, 1.3.0)\n"
    )
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == "previous content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["groups.yaml"]


def test_a_group_that_would_change_is_named_with_its_changes(tmp_path: Path) -> None:
    # A live config value shaped like a secret marker is read back unwrapped from a file.
    config = {"db": {"connection": {"fn::secret": "hunter2"}}}
    groups = [{"name": "prod", "policyPacks": [pack("aws", "1.0.0", config=config)]}]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        "  group 'prod' would be updated: ~ pack aws 1.0.0 settings"
    ]
    assert result.stdout == ""
    assert "hunter2" not in result.output


def test_unknown_organization_reports_the_api_message(emulator: EmulatorServer) -> None:
    result = import_(emulator, "--org", "nope")
    assert result.exit_code == 1
    assert "HTTP 404: Organization 'nope' not found" in result.stderr


def test_token_is_required_off_loopback() -> None:
    result = CliRunner().invoke(
        import_command, ["--org", "acme", "--api-url", "https://api.example.com"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: PULUMI_ACCESS_TOKEN is not set (or empty); create a token at "
        "https://app.pulumi.com/account/tokens and export it\n"
    )


def test_out_in_a_directory_of_a_fresh_repository_creates_the_directory(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = import_(emulator, "--org", "acme", "--out", "policygroups/acme.yaml")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "policygroups" / "acme.yaml").read_text().startswith(SCHEMA_COMMENT)


def test_out_under_a_file_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "policygroups").write_text("")
    out = tmp_path / "policygroups" / "acme.yaml"
    result = import_(emulator, "--org", "acme", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {out}: {tmp_path / 'policygroups'} is not a directory;"
        " give --out another path\n"
    )
    assert emulator.requests == []


def test_help_explains_the_round_trip() -> None:
    result = CliRunner().invoke(import_command, ["--help"])
    assert result.exit_code == 0
    assert "--org" in result.stdout and "--out" in result.stdout
    assert "which groups would change, writes nothing and exits 1" in " ".join(
        result.stdout.split()
    )


SECRET_CONFIG = {
    "all": {"enforcementLevel": "mandatory"},
    "db": {
        "password": "HUNTER2",
        "port": 5432,
        "users": [{"name": "ci", "apiKey": "K-123"}],
        "tokenTtl": None,
    },
    "no-plaintext-secrets": {"enforcementLevel": "advisory"},
}


def test_secret_settings_become_placeholders_listed_on_stderr(tmp_path: Path) -> None:
    groups = [{"name": "prod", "policyPacks": [pack("aws", "1.0.0", config=SECRET_CONFIG)]}]
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--out", str(out))
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="utf-8")
        assert "HUNTER2" not in result.output + text and "K-123" not in result.output + text
        lines = text.splitlines()
        spots = [
            (number, line.index("fn::secret") + 1)
            for number, line in enumerate(lines, 1)
            if "fn::secret: null" in line
        ]
        assert len(spots) == 2
        assert result.stderr == "".join(
            f"{out}:{line}:{col}: fill in the secret value\n" for line, col in spots
        )
        written = yaml.safe_load(text)["policyGroups"][2]["policyPacks"][0]["config"]
        assert written["db"] == {
            "password": {"fn::secret": None},
            "port": 5432,
            "tokenTtl": None,
            "users": {"fn::secret": None},
        }
        assert written["no-plaintext-secrets"] == {"enforcementLevel": "advisory"}

        # Unfilled, the file is refused at each placeholder; filled in, it plans to nothing.
        refused = pgsync(server, "plan", str(out))
        assert refused.exit_code == 1
        for line, col in spots:
            assert f"{out}:{line}:{col}: error: secret value not filled in" in refused.stderr
        filled = ["HUNTER2", '[{name: ci, apiKey: "K-123"}]']
        for (line, _), value in zip(spots, filled, strict=True):
            lines[line - 1] = lines[line - 1].replace("null", value)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        plan = pgsync(server, "plan", str(out), "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output


def test_placeholders_written_to_stdout_are_listed_against_stdout() -> None:
    groups = [{"name": "prod", "policyPacks": [pack("aws", "1.0.0", config=SECRET_CONFIG)]}]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme")
    assert result.exit_code == 0, result.output
    assert "HUNTER2" not in result.output
    assert [line.split(":", 1)[0] for line in result.stderr.splitlines()] == ["<stdout>"] * 2
