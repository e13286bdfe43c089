"""The CLI on GitHub Actions: step summary, step outputs and annotations, with real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clirun import THREE_GROUPS, groups_file, write
from conftest import STACKS, Golden
from pgsync.cli.github import PR_COMMENT_LIMIT, REPORT_URL_ENV, report_link
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, demo_fixture

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "policygroups.yaml")
ARTIFACT_URL = "https://github.com/acme/policies/actions/runs/42/artifacts/7"
REPORT_LINK = f"📊 [Coverage report]({ARTIFACT_URL}):"


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


def test_the_markdown_plan_ends_by_linking_the_uploaded_report(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {REPORT_URL_ENV: ARTIFACT_URL}
    result = run(emulator, env, "plan", write(tmp_path, THREE_GROUPS), "--format", "markdown")
    assert result.exit_code == 0, result.output
    last = result.stdout.rstrip("\n").rsplit("\n\n", 1)[-1]
    assert last.startswith(REPORT_LINK)


def test_the_step_summary_links_the_uploaded_report(
    emulator: EmulatorServer, tmp_path: Path, actions: dict[str, str]
) -> None:
    env = {**actions, REPORT_URL_ENV: ARTIFACT_URL}
    assert run(emulator, env, "plan", write(tmp_path, THREE_GROUPS)).exit_code == 0
    assert REPORT_LINK in Path(actions["GITHUB_STEP_SUMMARY"]).read_text()


def test_without_a_report_url_the_markdown_plan_has_no_link(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, THREE_GROUPS)
    plain = run(emulator, {}, "plan", path, "--format", "markdown").stdout
    empty = run(emulator, {REPORT_URL_ENV: ""}, "plan", path, "--format", "markdown").stdout
    assert "Coverage report" not in plain
    assert empty == plain


def test_the_link_is_escaped_so_that_the_url_cannot_break_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {REPORT_URL_ENV: f"{ARTIFACT_URL}?q=x) [evil](https://evil.example"}
    result = run(emulator, env, "plan", write(tmp_path, THREE_GROUPS), "--format", "markdown")
    assert f"({ARTIFACT_URL}?q=x%29%20%5Bevil%5D%28https://evil.example):" in result.stdout
    assert "[evil]" not in result.stdout


def test_a_report_url_that_is_not_http_is_an_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {REPORT_URL_ENV: "javascript:alert(1)"}
    result = run(emulator, env, "plan", write(tmp_path, THREE_GROUPS), "--format", "markdown")
    assert result.exit_code == 1
    assert f"error: {REPORT_URL_ENV} must be the coverage report's http(s) URL" in result.stderr


def test_a_plan_cut_to_the_comment_limit_keeps_the_link_within_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    groups = [
        {"name": f"team-{i:03d}", "stacks": STACKS[i : i + 3], "policyPacks": []}
        for i in range(400)
    ]
    path = groups_file(tmp_path, groups)
    env = {REPORT_URL_ENV: ARTIFACT_URL}
    plain = run(emulator, {}, "plan", path, "--format", "markdown").stdout
    # At the edge: the plan without the link, and the link after it, would pass the limit.
    assert len(plain) + len(report_link(env)) > PR_COMMENT_LIMIT >= len(plain)
    result = run(emulator, env, "plan", path, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "Truncated" in result.stdout
    assert len(result.stdout) <= PR_COMMENT_LIMIT
    assert REPORT_LINK in result.stdout
