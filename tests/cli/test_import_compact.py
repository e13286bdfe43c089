"""End to end: `pgsync import --compact` against the emulator, and its file planned back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from conftest import Golden, org_spec
from pgsync.cli.importing import import_command
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

MANDATORY = {"all": {"enforcementLevel": "mandatory"}}
ADVISORY = {"all": {"enforcementLevel": "advisory"}}
SECRET = {"p": {"token": "T-SECRET-1", "limit": 3}}


def pack(name: str, tag: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "versionTag": tag, **extra}


def repeated_groups() -> list[dict[str, Any]]:
    """Prod and staging groups sharing packs, a lone variant, and a pair below the threshold."""
    prod = [pack("aws", "1.3.0", config=MANDATORY), pack("cost", "2.0.0")]
    staging = [
        pack("aws", "1.0.0", config=ADVISORY),
        pack("best", "1.0.0", config=SECRET),
        pack("cost", "2.0.0"),
    ]
    groups: list[dict[str, Any]] = [{"name": "default-policy-group", "policyPacks": prod}]
    for team, stack in (("payments", "payments/prod"), ("web", "web/prod")):
        groups.append({"name": f"{team}-prod", "stacks": [stack], "policyPacks": prod})
    for team in ("payments", "web", "data"):
        groups.append(
            {"name": f"{team}-staging", "mode": "audit", "stacks": [], "policyPacks": staging}
        )
    groups.append(
        {
            "name": "data-prod",
            "stacks": ["svc/s001"],
            "policyPacks": [pack("aws", "1.3.0", config=ADVISORY), pack("cost", "2.0.0")],
        }
    )
    for name in ("audit-a", "audit-b"):
        groups.append({"name": name, "mode": "audit", "policyPacks": [pack("best", "0.9.0")]})
    return groups


def import_(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(import_command, [*args, "--api-url", server.url])


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def fill_secrets(path: Path, value: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("fn::secret: null", f"fn::secret: {value}"), encoding="utf-8")


def test_a_compact_import_is_the_golden_file(golden: Golden) -> None:
    with EmulatorServer(fixture_from_dict(org_spec(repeated_groups()))) as server:
        result = import_(server, "--org", "acme", "--compact")
    assert result.exit_code == 0, result.output
    assert "T-SECRET-1" not in result.output
    golden.check("import-compact.yaml", result.stdout)


def test_a_compact_import_plans_and_applies_to_no_change(tmp_path: Path) -> None:
    groups = repeated_groups()
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--compact", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            # The emulator adds the default accounts group.
            f"imported {len(groups) + 1} groups from organization 'acme' into {out} (3 pack sets)\n"
        )
        assert server.writes() == []
        fill_secrets(out, "T-SECRET-1")

        plan = pgsync(server, "plan", str(out), "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        assert f"({len(groups) + 1} unchanged, 0 unmanaged)" in plan.stdout

        applied = pgsync(server, "apply", str(out), "--yes")
        assert applied.exit_code == 0, applied.output
        assert server.writes() == []


def test_a_secret_in_a_pack_set_is_one_placeholder_listed_once(tmp_path: Path) -> None:
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(repeated_groups()))) as server:
        result = import_(server, "--org", "acme", "--compact", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    (spot,) = [
        (number, line.index("fn::secret") + 1)
        for number, line in enumerate(lines, 1)
        if "fn::secret: null" in line
    ]
    assert lines.index("policyGroups:") + 1 > spot[0]
    assert result.stderr == f"{out}:{spot[0]}:{spot[1]}: fill in the secret value\n"


def test_expand_of_a_compact_import_is_the_plain_import(tmp_path: Path) -> None:
    groups = [g for g in repeated_groups() if "staging" not in g["name"]]
    compact, plain = tmp_path / "compact.yaml", tmp_path / "plain.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        assert import_(server, "--org", "acme", "--compact", "--out", str(compact)).exit_code == 0
        assert import_(server, "--org", "acme", "--out", str(plain)).exit_code == 0
    expanded = CliRunner().invoke(cli, ["expand", str(compact)])
    assert expanded.exit_code == 0, expanded.output
    assert "packSets" in compact.read_text(encoding="utf-8")
    assert by_pack_name(yaml.safe_load(expanded.stdout)) == by_pack_name(
        yaml.safe_load(plain.read_text(encoding="utf-8"))
    )


def by_pack_name(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The groups, each with its packs in name order (a set's packs come first in a group)."""
    return [
        {**g, "policyPacks": sorted(g["policyPacks"], key=lambda p: p["name"])}
        for g in document["policyGroups"]
    ]


def test_a_pack_in_two_groups_makes_no_pack_set() -> None:
    groups = [{"name": n, "policyPacks": [pack("cost", "2.0.0")]} for n in ("a", "b")]
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        compact = import_(server, "--org", "acme", "--compact")
        plain = import_(server, "--org", "acme")
    assert compact.exit_code == 0, compact.output
    assert "packSets" not in compact.stdout
    assert compact.stdout == plain.stdout


def test_a_pack_in_three_groups_makes_a_pack_set(tmp_path: Path) -> None:
    groups = [{"name": n, "policyPacks": [pack("cost", "2.0.0")]} for n in ("a", "b", "c")]
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--compact", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert document["packSets"] == {"baseline": [{"name": "cost", "versionTag": "2.0.0"}]}
    assert [g["policyPacks"] for g in document["policyGroups"][2:]] == [[{"use": "baseline"}]] * 3


def test_without_enough_repetition_compact_says_there_are_no_pack_sets(tmp_path: Path) -> None:
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec([]))) as server:
        result = import_(server, "--org", "acme", "--compact", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f" into {out} (no pack sets)\n")


def test_help_explains_compact() -> None:
    shown = " ".join(CliRunner().invoke(import_command, ["--help"]).stdout.split())
    assert "--compact" in shown
    assert "The set that most groups use is `baseline`" in shown
    assert "Without such repetition there are no packSets" in shown


def test_a_round_trip_problem_in_a_pack_set_names_the_set(tmp_path: Path) -> None:
    # The API stores an unpublished versionTag verbatim; no file can declare it.
    groups = [{"name": n, "policyPacks": [pack("aws", "9.9.9")]} for n in ("a", "b", "c")]
    out = tmp_path / "groups.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(groups))) as server:
        result = import_(server, "--org", "acme", "--compact", "--out", str(out))
    assert result.exit_code == 1
    problem = "policy pack 'aws' has no versionTag '9.9.9' (published: 1.0.0, 1.3.0)"
    assert result.stderr.splitlines() == [
        "error: the exported file would not plan to zero changes, so nothing was written:",
        f"  pack set 'baseline': {problem}",
        *(f"  group '{n}': {problem}, from pack set 'baseline' at line 6" for n in "abc"),
    ]
    assert not out.exists()
