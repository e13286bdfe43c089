"""Default groups are the live groups with isOrgDefault, whatever their names (late-2026 API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from clirun import pgsync, write
from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

NEWER = {"preventative": "default-preventative-policy-group", "audit": "default-audit-policy-group"}


def newer_org(groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec = org_spec(groups)
    spec["organizations"]["acme"]["defaultGroups"] = NEWER
    return spec


def test_import_puts_the_defaults_first_and_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    with EmulatorServer(
        fixture_from_dict(newer_org([{"name": "a", "stacks": ["web/prod"]}]))
    ) as server:
        imported = pgsync(server, "import", "--org", "acme", "--out", str(out))
        plan = pgsync(server, "plan", str(out), "--detailed-exitcode")
    assert imported.exit_code == 0, imported.output
    assert plan.exit_code == 0, plan.output
    names = [g["name"] for g in yaml.safe_load(out.read_text())["policyGroups"]]
    assert names == [NEWER["preventative"], NEWER["audit"], "a"]


def test_prune_never_deletes_a_default_group_under_its_newer_name(tmp_path: Path) -> None:
    text = "organization: acme\nprune: true\npolicyGroups: []\n"
    with EmulatorServer(fixture_from_dict(newer_org([{"name": "a"}]))) as server:
        applied = pgsync(server, "apply", write(tmp_path, text), "--yes", "--allow", "delete:a")
        left = [server.group("acme", name) is not None for name in (*NEWER.values(), "a")]
    assert applied.exit_code == 0, applied.output
    assert left == [True, True, False]


def test_a_change_to_a_newer_default_group_is_gated(tmp_path: Path) -> None:
    text = f"""\
organization: acme
policyGroups:
  - name: {NEWER["audit"]}
    policyPacks:
      - name: aws
        versionTag: "1.0.0"
"""
    with EmulatorServer(fixture_from_dict(newer_org())) as server:
        planned = pgsync(server, "plan", write(tmp_path, text))
    assert planned.exit_code == 3, planned.output
    assert f"✗ blocked default-group:{NEWER['audit']}" in planned.output


def test_newer_default_names_are_known_offline(tmp_path: Path) -> None:
    text = f"""\
organization: acme
policyGroups:
  - name: audit defaults
    previously: [{NEWER["audit"]}]
  - name: {NEWER["preventative"]}
    mode: audit
"""
    result = pgsync_offline("validate", write(tmp_path, text))
    assert result.exit_code == 1
    assert f"'{NEWER['audit']}' is a default group, which cannot be renamed" in result.stderr
    assert f"{NEWER['preventative']} always has mode preventative" in result.stderr


def test_a_default_group_under_a_custom_name_cannot_be_renamed_or_retyped(tmp_path: Path) -> None:
    text = """\
organization: acme
policyGroups:
  - name: audit defaults
    previously: [Audit Default]
  - name: Org Default
    mode: audit
"""
    spec = org_spec()
    spec["organizations"]["acme"]["defaultGroups"] = {
        "preventative": "Org Default",
        "audit": "Audit Default",
    }
    with EmulatorServer(fixture_from_dict(spec)) as server:
        planned = pgsync(server, "plan", write(tmp_path, text))
        assert server.writes() == []
    assert planned.exit_code == 1
    assert "default group 'Audit Default' cannot be renamed" in planned.stderr
    assert "default group 'Org Default' is mode 'preventative'" in planned.stderr


def pgsync_offline(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))
