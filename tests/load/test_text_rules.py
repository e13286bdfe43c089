"""Names and text as the service and a reviewer see them: no hidden characters, no look-alikes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.core.errors import ValidationFailed
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired

AWS: dict[str, Any] = {"name": "aws", "versionTag": "1.0.0"}

HIDDEN = {
    "\n": "U+000A (LINE FEED)",
    "\t": "U+0009 (TAB)",
    "\r": "U+000D (CARRIAGE RETURN)",
    "\x00": "U+0000 (NULL)",
    "\x1b": "U+001B (ESCAPE)",
    "\u202e": "U+202E (RIGHT-TO-LEFT OVERRIDE)",
    "\u2066": "U+2066 (LEFT-TO-RIGHT ISOLATE)",
    "\u200b": "U+200B (ZERO WIDTH SPACE)",
    "\ufeff": "U+FEFF (ZERO WIDTH NO-BREAK SPACE)",
    "\u2028": "U+2028 (LINE SEPARATOR)",
}


def group_with(text: str, place: str) -> dict[str, Any]:
    """A group that holds `text` at one place a name, reference or key is written."""
    pack = {**AWS, "config": {"all": "advisory"}}
    match place:
        case "group name":
            return {"name": text}
        case "former name":
            return {"name": "prod", "previously": [text]}
        case "stack":
            return {"name": "prod", "stacks": [f"{text}/prod"]}
        case "stack project":
            return {"name": "prod", "stacks": [{"routingProject": text, "name": "prod"}]}
        case "pack name":
            return {"name": "prod", "policyPacks": [{**AWS, "name": text}]}
        case "version tag":
            return {"name": "prod", "policyPacks": [{**AWS, "versionTag": text}]}
        case "config key":
            return {"name": "prod", "policyPacks": [{**pack, "config": {text: "advisory"}}]}
        case "environment":
            return {"name": "prod", "policyPacks": [{**AWS, "environments": [text]}]}
        case "account":
            return {"name": "prod", "mode": "audit", "accounts": [text]}
        case "rule tag value":
            return {"name": "prod", "stackMatch": [{"env": text}]}
    raise AssertionError(place)


def problems_of(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    """The messages of loading one file written as JSON (every non-ASCII char escaped)."""
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", **doc}))
    with pytest.raises(ValidationFailed) as raised:
        load_desired([path])
    return [f"{p.location}: {p.message}" for p in raised.value.problems]


PLACES = {
    "group name": "a group name",
    "former name": "a group name",
    "stack": "a stack",
    "stack project": "a stack",
    "pack name": "a pack name",
    "version tag": "a version tag",
    "config key": "a key",
    "environment": "an environment reference",
    "account": "an account name",
    "rule tag value": "a match rule",
}
"""Where a hidden character may be written, and what the message calls that string."""


@pytest.mark.parametrize("char", HIDDEN)
@pytest.mark.parametrize("place", PLACES)
def test_hidden_character_in_a_name_reference_or_key_is_refused_naming_the_code_point(
    tmp_path: Path, place: str, char: str
) -> None:
    found = problems_of(tmp_path, {"policyGroups": [group_with(f"a{char}b", place)]})
    assert len(found) == 1, found
    assert f"character {HIDDEN[char]} is not allowed in {PLACES[place]} (" in found[0]
    assert "(character 2 of " in found[0]


def test_group_name_ending_in_a_newline_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text('organization: acme\npolicyGroups:\n  - name: "metadata\\n"\n')
    result = CliRunner().invoke(cli, ["apply", str(path), "--yes", "--api-url", emulator.url])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"{path}:3:11: error: character U+000A (LINE FEED) is not allowed in a group name"
        " (character 9 of 9)"
    )
    assert emulator.requests == []


def test_former_name_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, {"policyGroups": [group_with("metadata\n", "former name")]})
    assert len(found) == 1
    assert "U+000A (LINE FEED) is not allowed in a group name (character 9 of 9)" in found[0]


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\u061c"])
def test_bidi_control_in_a_config_value_is_refused_as_trojan_source(
    tmp_path: Path, char: str
) -> None:
    config = {"regions": {"allowed": f"us-east-1{char}eu-west-1"}}
    group = {"name": "prod", "policyPacks": [{**AWS, "config": config}]}
    found = problems_of(tmp_path, {"policyGroups": [group]})
    assert len(found) == 1
    assert "is not allowed in a config value (character 10 of 19)" in found[0]
    assert "CVE-2021-42574" in found[0]


def test_bidi_control_in_a_config_key_is_refused_as_trojan_source(tmp_path: Path) -> None:
    config = {"regions": {"allowed\u202e": "us-east-1"}}
    group = {"name": "prod", "policyPacks": [{**AWS, "config": config}]}
    found = problems_of(tmp_path, {"policyGroups": [group]})
    assert len(found) == 1
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) is not allowed in a key (character 8 of 8)" in found[0]


def test_config_value_may_hold_line_breaks_and_tabs(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    config = {"banner": {"text": "line one\n\tline two\n"}}
    doc = {
        "organization": "acme",
        "policyGroups": [{"name": "prod", "policyPacks": [{**AWS, "config": config}]}],
    }
    path.write_text(json.dumps(doc))
    desired = load_desired([path])
    packs = desired.groups[0].packs
    assert packs is not None and "line one\\n\\tline two\\n" in packs[0].config_json


def test_hidden_character_message_never_quotes_the_value(tmp_path: Path) -> None:
    config = {"db": {"password": "hunter2\u202e", "note": {"fn::secret": "s3cr3t\x00"}}}
    group = {"name": "prod", "policyPacks": [{**AWS, "config": config}]}
    found = problems_of(tmp_path, {"policyGroups": [group]})
    assert len(found) == 2
    assert not any("hunter2" in line or "s3cr3t" in line for line in found)


def test_names_differing_only_in_case_conflict(tmp_path: Path) -> None:
    found = problems_of(tmp_path, {"policyGroups": [{"name": "Prod"}, {"name": "prod"}]})
    assert len(found) == 1
    assert "group name 'prod' differs only in case from 'Prod' at" in found[0]
    assert found[0].endswith("the service may take them for one group")


def test_former_name_differing_only_in_case_from_another_group_conflicts(tmp_path: Path) -> None:
    groups = [{"name": "Prod"}, {"name": "live", "previously": ["PROD"]}]
    found = problems_of(tmp_path, {"policyGroups": groups})
    assert len(found) == 1
    assert "group name 'PROD' differs only in case from 'Prod'" in found[0]


def test_names_in_two_files_differing_only_in_case_conflict(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(json.dumps({"organization": "acme", "policyGroups": [{"name": "Prod"}]}))
    second.write_text(json.dumps({"organization": "acme", "policyGroups": [{"name": "PROD"}]}))
    with pytest.raises(ValidationFailed) as raised:
        load_desired([first, second])
    (problem,) = raised.value.problems
    assert problem.location.file == str(second)
    assert f"differs only in case from 'Prod' at {first}:1:" in problem.message


def test_a_group_may_change_the_case_of_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    doc = {"organization": "acme", "policyGroups": [{"name": "prod", "previously": ["Prod"]}]}
    path.write_text(json.dumps(doc))
    assert load_desired([path]).groups[0].previously == ("Prod",)


@pytest.mark.parametrize("organization", [".", "..", "a/b", "ac me"])
def test_organization_that_would_change_the_request_path_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, organization: str
) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": organization, "policyGroups": []}))
    result = CliRunner().invoke(cli, ["plan", str(path), "--api-url", emulator.url])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"{path}:1:18: error: expected an organization name without '/' or spaces, not '.' or '..'"
    )
    assert emulator.requests == []


def plan_against(live: list[dict[str, Any]], tmp_path: Path, groups: list[dict[str, Any]]) -> Any:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        result = CliRunner().invoke(cli, ["apply", str(path), "--yes", "--api-url", server.url])
        writes = server.writes()
    return result, writes


def test_group_differing_only_in_case_from_a_live_group_is_not_created(tmp_path: Path) -> None:
    result, writes = plan_against([{"name": "Prod"}], tmp_path, [{"name": "prod"}])
    assert result.exit_code == 1
    assert (
        "error: group name 'prod' differs only in case from the live group 'Prod': the service"
        " may take them for one group (to rename it, write previously: ['Prod'])"
    ) in result.stderr
    assert writes == []


def test_rename_into_the_case_twin_of_a_live_group_is_refused(tmp_path: Path) -> None:
    live = [{"name": "Prod"}, {"name": "old"}]
    result, writes = plan_against(live, tmp_path, [{"name": "prod", "previously": ["old"]}])
    assert result.exit_code == 1
    assert "differs only in case from the live group 'Prod'" in result.stderr
    assert writes == []


def test_live_group_may_be_renamed_to_a_new_case_of_its_name(tmp_path: Path) -> None:
    result, writes = plan_against(
        [{"name": "Prod"}], tmp_path, [{"name": "prod", "previously": ["Prod"]}]
    )
    assert result.exit_code == 0, result.output
    assert [(w.method, w.path) for w in writes] == [("PATCH", "/api/orgs/acme/policygroups/Prod")]


def test_case_twins_both_live_are_managed_by_their_exact_names(tmp_path: Path) -> None:
    live = [{"name": "Prod", "stacks": []}, {"name": "prod", "stacks": []}]
    result, _ = plan_against(live, tmp_path, [{"name": "prod", "stacks": ["web/prod"]}])
    assert result.exit_code == 0, result.output


def test_import_of_a_live_value_holding_a_bidi_control_writes_no_file(tmp_path: Path) -> None:
    config = {"regions": {"allowed": "us-east-1\u202eeu-west-1"}}
    live = [{"name": "prod", "policyPacks": [{**AWS, "config": config}]}]
    out = tmp_path / "imported.yaml"
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        args = ["import", "--org", "acme", "--out", str(out), "--api-url", server.url]
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "nothing was written" in result.stderr
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) is not allowed in a config value" in result.stderr
    assert not out.exists()
