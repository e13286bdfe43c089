"""The CLI on GitHub Actions: step summary, step outputs and annotations, with real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clirun import THREE_GROUPS, write
from conftest import Golden
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, demo_fixture

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "policygroups.yaml")


@pytest.fixture
def actions(tmp_path: Path) -> dict[str, str]:
    """The environment of a GitHub Actions step, with its files in a temp dir."""
    (tmp_path / "runner").mkdir()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "RUNNER_TEMP": str(tmp_path / "runner"),
    }


def run(server: EmulatorServer, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url], env=env)


def read_outputs(path: str) -> dict[str, str]:
    """Parse `name<<DELIM` / value / `DELIM` blocks as the runner does."""
    text = Path(path).read_text()
    found = re.findall(r"^([\w-]+)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S)
    return {name: value for name, _, value in found}


def test_pr_plan_markdown_matches_golden(golden: Golden) -> None:
    with EmulatorServer(demo_fixture()) as server:
        result = CliRunner().invoke(
            cli, ["plan", EXAMPLE, "--format", "markdown", "--api-url", server.url]
        )
    assert result.exit_code == 0, result.output
    golden.check("demo-plan.md", result.output.replace(EXAMPLE, "examples/policygroups.yaml"))


def test_plan_appends_markdown_to_the_step_summary(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    Path(actions["GITHUB_STEP_SUMMARY"]).write_text("earlier step\n")
    assert run(emulator, actions, "plan", write(tmp_path, THREE_GROUPS)).exit_code == 0
    summary = Path(actions["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("earlier step\n### pgsync plan for `acme`")


def test_plan_writes_step_outputs_and_the_json_plan(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    assert run(emulator, actions, "plan", write(tmp_path, THREE_GROUPS)).exit_code == 0
    outputs = read_outputs(actions["GITHUB_OUTPUT"])
    assert {k: outputs[k] for k in ("has_changes", "creates", "updates", "deletes")} == {
        "has_changes": "true",
        "creates": "3",
        "updates": "0",
        "deletes": "0",
    }
    assert outputs["plan_json"] == str(Path(actions["RUNNER_TEMP"]) / "pgsync-plan.json")
    assert json.loads(Path(outputs["plan_json"]).read_text())["summary"]["create"] == 3


def test_plan_json_output_points_at_out_when_given(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    out = tmp_path / "plan.json"
    result = run(emulator, actions, "plan", write(tmp_path, THREE_GROUPS), "--out", str(out))
    assert result.exit_code == 0
    assert read_outputs(actions["GITHUB_OUTPUT"])["plan_json"] == str(out)


def test_drift_in_sync_reports_no_changes_in_outputs(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups: []\n")
    assert run(emulator, actions, "drift", path).exit_code == 0
    assert read_outputs(actions["GITHUB_OUTPUT"])["has_changes"] == "false"


def test_validation_errors_become_annotations_at_their_line(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: p\n    mode: sometimes\n")
    result = run(emulator, actions, "validate", path)
    assert result.exit_code == 1
    escaped = path.replace(":", "%3A").replace(",", "%2C")
    assert (
        f"::error file={escaped},line=4,col=11,title=pgsync::expected one of preventative, "
        "audit, got 'sometimes'"
    ) in result.output
    assert emulator.requests == []


def test_outside_github_errors_are_file_line_col(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: p\n    mode: sometimes\n")
    result = CliRunner().invoke(cli, ["validate", path])
    assert f"{path}:4:11: error: expected one of preventative, audit" in result.output
    assert "::error" not in result.output
