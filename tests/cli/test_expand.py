"""`pgsync expand`, and planning through pack sets and templates (contract §6.2)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clirun import pgsync, write
from conftest import Golden, org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

ORGANIZATION = """\
organization: acme
packSets:
  baseline:
    - {name: aws, versionTag: "1.3.0", enforcementLevel: mandatory}
    - {name: cost, versionTag: "2.0.0"}
  spare:
    - {name: best, versionTag: "1.0.0"}
templates:
  prod-like:
    mode: preventative
    policyPacks: [{use: baseline}]
  unused: {mode: audit}
policyGroups:
  - name: production
    extends: prod-like
    stacks: [payments/prod, web/prod]
  - name: staging
    extends: prod-like
    stacks: [web/dev]
    policyPacks:
      - {use: baseline}
      - {name: aws, versionTag: "1.0.0", enforcementLevel: advisory}
"""

ERRORS = """\
organization: acme
packSets:
  baseline:
    - {name: aws, versionTag: "1.3.0"}
  guard:
    - {name: aws, versionTag: "1.0.0"}
    - {use: baseline}
  more:
    - {name: cost, versionTag: "2.0.0"}
    - {name: aws, versionTag: "1.0.0"}
templates:
  t: {name: x, mode: audit}
policyGroups:
  - {name: a, extends: prod}
  - {name: b, policyPacks: [{use: basline}]}
  - {name: c, policyPacks: [{use: baseline}, {use: baseline}]}
  - {name: d, policyPacks: [{use: baseline}, {use: more}]}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_expand_prints_the_plain_file(tmp_path: Path, golden: Golden) -> None:
    result = run("expand", write(tmp_path, ORGANIZATION))
    assert result.exit_code == 0
    golden.check("expand-organization.yaml", result.stdout)


def test_unused_sets_and_templates_are_warnings_with_exit_0(tmp_path: Path) -> None:
    path = write(tmp_path, ORGANIZATION)
    result = run("validate", path)
    assert result.exit_code == 0
    assert result.stderr == (
        f"{path}:6:3: warning: pack set 'spare' is not used by any group\n"
        f"{path}:12:3: warning: template 'unused' is not used by any group\n"
    )


def test_expanded_output_validates_with_no_sets_templates_or_use(tmp_path: Path) -> None:
    expanded = run("expand", write(tmp_path, ORGANIZATION)).stdout
    assert not {"packSets", "templates", "extends", "use:"} & set(expanded.split())
    result = run("validate", write(tmp_path, expanded, "expanded.yaml"))
    assert (result.exit_code, result.stderr) == (0, "")


def test_errors_through_sets_and_templates_name_their_lines(tmp_path: Path, golden: Golden) -> None:
    path = write(tmp_path, ERRORS)
    result = run("expand", path)
    assert result.exit_code == 1
    golden.check("expand-errors.txt", result.stderr.replace(path, "groups.yaml"))


def test_an_unknown_version_tag_in_a_set_is_reported_at_the_set_and_each_use(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    text = textwrap.dedent("""\
        organization: acme
        packSets:
          baseline:
            - {name: aws, versionTag: "9.9.9"}
        policyGroups:
          - {name: a, policyPacks: [{use: baseline}]}
          - {name: b, policyPacks: [{use: baseline}]}
        """)
    path = write(tmp_path, text)
    result = pgsync(emulator, "plan", path)
    problem = "policy pack 'aws' has no versionTag '9.9.9' (published: 1.0.0, 1.3.0)"
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:4:14: error: {problem}\n"
        f"{path}:6:35: error: {problem}, from pack set 'baseline' at {path}:4:14\n"
        f"{path}:7:35: error: {problem}, from pack set 'baseline' at {path}:4:14\n"
        "error: 3 problems found\n"
    )


def test_an_unknown_version_tag_from_a_template_is_reported_at_its_use_and_each_extends(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    text = textwrap.dedent("""\
        organization: acme
        packSets:
          baseline:
            - {name: aws, versionTag: "9.9.9"}
        templates:
          t: {policyPacks: [{use: baseline}]}
        policyGroups:
          - {name: a, extends: t}
        """)
    path = write(tmp_path, text)
    result = pgsync(emulator, "validate", "--live", path)
    problem = "policy pack 'aws' has no versionTag '9.9.9' (published: 1.0.0, 1.3.0)"
    assert result.stderr.splitlines()[:3] == [
        f"{path}:4:14: error: {problem}",
        f"{path}:6:27: error: {problem}, from pack set 'baseline' at {path}:4:14",
        f"{path}:8:24: error: {problem}, from template 't' at {path}:4:14",
    ]


SECRET = """\
organization: acme
packSets:
  costs:
    - name: cost
      versionTag: "2.0.0"
      config:
        budget: {limit: 100, token: tok-123, key: {fn::secret: s3cr3t}}
policyGroups:
  - {name: a, policyPacks: [{use: costs}]}
"""


def test_expand_leaves_secret_values_out_of_stdout(tmp_path: Path) -> None:
    result = run("expand", write(tmp_path, SECRET))
    assert "tok-123" not in result.output and "s3cr3t" not in result.output
    assert result.stderr == (
        "note: 2 secret values left as fn::secret: null placeholders; --out FILE writes them\n"
    )


def test_expand_out_writes_the_secret_values_as_written(tmp_path: Path) -> None:
    out = tmp_path / "expanded.yaml"
    result = run("expand", write(tmp_path, SECRET), "--out", str(out))
    assert (result.exit_code, result.output) == (0, "")
    text = out.read_text(encoding="utf-8")
    assert "token: tok-123" in text and "fn::secret: s3cr3t" in text


# The property: a file with random sets and templates plans exactly as its expansion does.
PACKS = {"aws": ["1.0.0", "1.3.0"], "cost": ["2.0.0"], "best": ["0.9.0", "1.0.0"]}
LIVE = [
    {"name": "g0", "stacks": ["svc/s001"], "policyPacks": [{"name": "aws", "versionTag": "1.0.0"}]},
    {"name": "g1", "mode": "audit", "policyPacks": [{"name": "best", "versionTag": "0.9.0"}]},
]


@st.composite
def pack(draw: st.DrawFn, names: list[str] | None = None) -> dict[str, Any]:
    name = draw(st.sampled_from(names or sorted(PACKS)))
    entry: dict[str, Any] = {"name": name, "versionTag": draw(st.sampled_from(PACKS[name]))}
    level = draw(st.sampled_from([None, "advisory", "mandatory", "disabled"]))
    if level is not None:
        entry["enforcementLevel"] = level
    return entry


def distinct(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({entry["name"]: entry for entry in entries}.values())


@st.composite
def organizations(draw: st.DrawFn) -> dict[str, Any]:
    # Sets never share a pack, so any choice of them is valid in one list.
    names = draw(st.permutations(sorted(PACKS)))
    cuts = sorted(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2)))
    parts = [names[: cuts[0]], names[cuts[0] : cuts[1]], names[cuts[1] :]]
    sets = {
        f"s{i}": distinct(draw(st.lists(pack(part), min_size=1, max_size=2)))
        for i, part in enumerate(parts)
        if part
    }

    def pack_list() -> list[dict[str, Any]]:
        uses = draw(st.lists(st.sampled_from(sorted(sets)), unique=True, max_size=2))
        direct = distinct(draw(st.lists(pack(), max_size=2)))
        entries: list[dict[str, Any]] = [{"use": name} for name in uses] + direct
        return draw(st.permutations(entries))

    def template() -> dict[str, Any]:
        keys: dict[str, Any] = {}
        if draw(st.booleans()):
            keys["policyPacks"] = pack_list()
        if draw(st.booleans()):
            keys["mode"] = "audit"
        if draw(st.booleans()):
            keys["stacks"] = ["svc/s001"]
        return keys

    templates = {f"t{i}": template() for i in range(draw(st.integers(0, 2)))}
    groups = []
    for i in range(draw(st.integers(1, 4))):
        entry: dict[str, Any] = {"name": f"g{i}"}
        if draw(st.booleans()) and templates:
            entry["extends"] = draw(st.sampled_from(sorted(templates)))
        if draw(st.booleans()):
            entry["policyPacks"] = pack_list()
        groups.append(entry)
    return {
        "organization": "acme",
        "packSets": sets,
        "templates": templates,
        "policyGroups": groups,
    }


def json_plan(server: EmulatorServer, path: str) -> tuple[int, dict[str, Any]]:
    """The exit code (a safety rule may block the plan: 3) and the plan but its inputs and
    the origins of its changes (an expanded file has no sets or templates to name)."""
    result = pgsync(server, "plan", path, "--format", "json")
    assert result.exit_code in (0, 3), result.output
    plan: dict[str, Any] = json.loads(result.stdout)
    del plan["inputs"]
    for group in plan["groups"]:
        for change in group.get("changes", []):
            change.pop("origin", None)
    return result.exit_code, plan


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=organizations())
def test_planning_a_file_equals_planning_its_expansion(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    source = write(tmp_path, json.dumps(document), "source.yaml")
    expanded = run("expand", source)
    assert expanded.exit_code == 0, expanded.output
    plain = write(tmp_path, expanded.stdout, "expanded.yaml")
    with EmulatorServer(fixture_from_dict(org_spec(LIVE))) as server:
        assert json_plan(server, source) == json_plan(server, plain)
