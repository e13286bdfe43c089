"""Control and bidi characters from files and from the API reach no output raw.

Escape sequences would repaint the terminal, bidi controls make a reviewer read other text
than is there (CVE-2021-42574), and a newline in a "one-line" error starts a line of its own
that GitHub Actions would run as a workflow command (`::error::...`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from builders import desired_group, live, live_group, state
from pgsync.cli.main import cli
from pgsync.core.diff import diff
from pgsync.core.errors import ValidationFailed
from pgsync.core.escaping import escape, escape_lines, shown_json
from pgsync.emulator import EmulatorServer

HOSTILE = "bad\x1b[2J\x1b]0;owned\x07\u202eevil\u2066\r\n::error::forged\u2028x"
ESCAPED = "bad\\x1b[2J\\x1b]0;owned\\x07\\u202eevil\\u2066\\x0d\\x0a::error::forged\\u2028x"
RAW = ("\x1b", "\x07", "\u202e", "\u2066", "\r", "\u2028")

GROUP = "organization: acme\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n"


def write(tmp_path: Path, text: str = GROUP, name: str = "groups.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def assert_clean(text: str) -> None:
    """No raw control or bidi character, and no line that GitHub would read as a command."""
    assert not [c for c in RAW if c in text]
    assert not [line for line in text.split("\n") if line.lstrip().startswith("::error::")]


def test_escape_shows_every_invisible_character_as_a_code() -> None:
    assert escape(HOSTILE) == ESCAPED


def test_escape_lines_keeps_only_pgsyncs_own_line_breaks_and_colours() -> None:
    text = "\x1b[32m+ a\x1b[0m\n\x1b[8mhidden\u200b"
    assert escape_lines(text, colors=True) == "\x1b[32m+ a\x1b[0m\n\\x1b[8mhidden\\u200b"
    assert escape_lines(text) == "\\x1b[32m+ a\\x1b[0m\n\\x1b[8mhidden\\u200b"


def test_json_output_escapes_invisible_characters_and_stays_the_same_json() -> None:
    text = json.dumps({"name": "a\u202eb\U000e0041", "n": [1]}, indent=2, ensure_ascii=False)
    shown = shown_json(text + "\n")
    assert "\u202e" not in shown
    assert "\\u202e" in shown
    assert json.loads(shown) == json.loads(text)


def test_an_api_error_message_is_shown_escaped_on_one_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(
        method="POST", status=400, body={"code": 400, "message": HOSTILE}, path="/policygroups$"
    )
    result = run(emulator, "apply", write(tmp_path), "--yes")
    assert result.exit_code == 1
    assert f"HTTP 400: {ESCAPED}" in result.stderr
    assert_clean(result.output)


def test_an_api_error_message_cannot_inject_a_github_workflow_command(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    emulator.inject_fault(method="POST", status=400, body=HOSTILE, path="/policygroups$")
    result = run(emulator, "apply", write(tmp_path), "--yes")
    assert result.exit_code == 1
    assert ESCAPED in result.stderr
    assert_clean(result.output)


def test_a_journal_report_of_a_hostile_message_is_shown_escaped(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(method="POST", status=400, body=HOSTILE, path="/policygroups$")
    journal = str(tmp_path / "journal.jsonl")
    run(emulator, "apply", write(tmp_path), "--yes", "--journal", journal)
    emulator.inject_fault(method="POST", status=400, body="no", path="/policygroups$")
    result = run(emulator, "apply", write(tmp_path), "--yes", "--resume", journal)
    assert "prod: failed: " in result.output
    assert_clean(result.output)


def test_the_verbose_retry_log_shows_a_hostile_body_escaped(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(
        method="GET", path="/policygroups$", status=503, headers={"Retry-After": "0"}, body=HOSTILE
    )
    result = run(emulator, "plan", write(tmp_path), "-v")
    assert result.exit_code == 0, result.output
    retry = f"retrying in 0 s (2/5): GET /api/orgs/acme/policygroups: HTTP 503: {ESCAPED}\n"
    assert retry in result.stderr
    assert_clean(result.output)


def live_list_with(name: str) -> dict[str, object]:
    """The group listing of the test org, plus one group of a hostile server's naming."""
    defaults = [
        {"name": "default-policy-group", "isOrgDefault": True, "entityType": "stacks"},
        {"name": "default-accounts-policy-group", "isOrgDefault": True, "entityType": "accounts"},
    ]
    extra = {"name": name, "isOrgDefault": False, "entityType": "stacks", "mode": "audit"}
    return {"policyGroups": [*defaults, extra]}


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_a_live_group_name_with_escapes_and_bidi_is_shown_escaped_in_the_plan(
    emulator: EmulatorServer, tmp_path: Path, fmt: str
) -> None:
    name = "team\x1b]8;;http://x\x07\u202eorp\n::error::forged"
    emulator.inject_fault(
        method="GET", path="/policygroups$", status=200, body=live_list_with(name)
    )
    result = run(emulator, "plan", write(tmp_path), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "team" in result.output
    assert_clean(result.output)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_newline_in_a_live_group_name_cannot_forge_a_line_of_the_plan(
    emulator: EmulatorServer, tmp_path: Path, fmt: str
) -> None:
    name = "team\x1b]8;;http://x\x07\u202eorp\nPlan: 0 to create"
    emulator.inject_fault(
        method="GET", path="/policygroups$", status=200, body=live_list_with(name)
    )
    result = run(emulator, "plan", write(tmp_path), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "team\\x1b]8;;http://x\\x07\\u202eorp\\x0aPlan: 0 to create" in result.output
    assert not [line for line in result.output.splitlines() if line.startswith("Plan: 0")]


def test_a_file_name_with_a_newline_stays_on_its_problems_line(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: acme\npolicyGroups: {}\n", name="a\n::error::b.yaml")
    result = CliRunner().invoke(cli, ["validate", path])
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert line.startswith(f"{tmp_path}/a\\x0a::error::b.yaml:2:")
    assert_clean(result.output)


def test_a_github_annotation_of_a_hostile_file_name_is_one_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    path = write(
        tmp_path, "organization: acme\npolicyGroups: {}\n", name="a\u202e\n::error::b.yaml"
    )
    result = CliRunner().invoke(cli, ["validate", path])
    assert result.exit_code == 1
    [annotation] = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotation.startswith("::error file=")
    assert "a\\u202e\\x0a%3A%3Aerror%3A%3Ab.yaml" in annotation
    assert_clean(result.output)


def test_a_problem_quoting_a_hostile_value_is_shown_escaped(tmp_path: Path) -> None:
    # The value is not a name (whose characters are refused) but an enforcement level.
    text = (
        "organization: acme\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n"
        '    mode: "audit\\e[2J\\u202e"\n'
    )
    result = CliRunner().invoke(cli, ["validate", write(tmp_path, text)])
    assert result.exit_code == 1
    assert "\\x1b" in result.stderr or "U+001B" in result.stderr
    assert_clean(result.output)


def test_a_resume_report_keeps_each_group_on_its_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    events = [
        {"run": "r1", "event": "start", "organization": "acme", "groups": ["a\nb: done"]},
        {"run": "r1", "event": "failed", "group": "a\nb: done", "error": "HTTP 400: x\ny"},
    ]
    journal.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    result = CliRunner().invoke(cli, ["apply", "x.yaml", "--resume", str(journal)])
    assert "  a\\x0ab: done: failed: HTTP 400: x\\x0ay\n" in result.output
    assert_clean(result.output)


# --- Reports that pgsync splits into lines: a live name holds no line of its own ----------

LIVE = "team\n::error::x"
PRUNING = "organization: acme\nprune: true\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n"


def forged_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::error::")]


def serve_hostile_group(server: EmulatorServer, *details: dict[str, object]) -> None:
    """The listing holds LIVE; its detail reads answer `details` in turn, the last ever after."""
    server.inject_fault(
        method="GET", path="/policygroups$", status=200, body=live_list_with(LIVE), times=99
    )
    for index, detail in enumerate(details):
        times = 99 if index == len(details) - 1 else 1
        server.inject_fault(
            method="GET", path="/policygroups/team", status=200, body=detail, times=times
        )


def hostile_detail(stacks: list[str]) -> dict[str, object]:
    return {
        "name": LIVE,
        "isOrgDefault": False,
        "entityType": "stacks",
        "mode": "audit",
        "stacks": [{"name": s.split("/")[1], "routingProject": s.split("/")[0]} for s in stacks],
        "accounts": [],
        "appliedPolicyPacks": [],
    }


def apply_pruning(server: EmulatorServer, tmp_path: Path) -> Result:
    allow = [f"--allow={rule}:{LIVE}" for rule in ("delete", "unprotected")]
    return run(server, "apply", write(tmp_path, PRUNING), "--yes", *allow)


def test_a_failed_write_to_a_live_group_with_a_newline_in_its_name_forges_no_report_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    serve_hostile_group(emulator, hostile_detail(["web/dev"]))
    emulator.inject_fault(method="DELETE", path="/policygroups/team", status=400)
    result = apply_pruning(emulator, tmp_path)
    assert result.exit_code == 1, result.output
    assert "  failed        delete  team\\x0a::error::x: DELETE " in result.stderr
    assert forged_lines(result.output) == []


def test_a_blocked_id_naming_a_live_group_with_a_newline_forges_no_error_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    serve_hostile_group(emulator, hostile_detail(["web/dev"]))
    result = run(emulator, "plan", write(tmp_path, PRUNING))
    assert result.exit_code == 3, result.output
    assert "error: blocked by safety rules: delete:team\\x0a::error::x" in result.stderr
    assert forged_lines(result.output) == []
    assert emulator.writes() == []


def test_a_skipped_live_group_with_a_newline_in_its_name_forges_no_report_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    serve_hostile_group(emulator, hostile_detail(["web/dev"]), hostile_detail(["web/prod"]))
    result = apply_pruning(emulator, tmp_path)
    assert result.exit_code == 1, result.output
    assert "  skipped       delete  team\\x0a::error::x: it changed live" in result.stderr
    assert forged_lines(result.output) == []


def test_an_unverified_delete_of_a_live_group_with_a_newline_in_its_name_forges_no_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    serve_hostile_group(emulator, hostile_detail(["web/dev"]))
    emulator.inject_fault(method="DELETE", path="/policygroups/team", status=204)
    result = apply_pruning(emulator, tmp_path)
    assert result.exit_code == 1, result.output
    assert "group 'team\\x0a::error::x' still exists after DELETE" in result.stderr
    assert forged_lines(result.output) == []


def test_a_drift_classification_of_a_live_group_with_a_newline_in_its_name_forges_no_line(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PRUNING)
    for args in (["init", "-q"], ["add", "groups.yaml"], ["commit", "-qm", "base"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    serve_hostile_group(emulator, hostile_detail(["web/dev"]))
    result = run(emulator, "drift", "groups.yaml", "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert "  team\\x0a::error::x: changed live outside Git" in result.output
    assert forged_lines(result.output) == []


def test_a_plan_time_problem_naming_a_live_group_is_one_line_of_the_error() -> None:
    desired = state(desired_group("prod", previously=(LIVE,)))
    with pytest.raises(ValidationFailed) as raised:
        diff(desired, live(live_group("prod"), live_group(LIVE)))
    assert "its former name 'team\\x0a::error::x' both exist live" in str(raised.value)
    assert forged_lines(str(raised.value)) == []
