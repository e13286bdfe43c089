"""The CI integrations stay honest: the composite action, the example pipelines, the pre-commit
hook and the README's CI recipes only use what pgsync really has, and keep their safety rules
(no expressions in scripts, least privilege, no overlapping applies, one sticky comment)."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import esprima
import pytest
import yaml

from pgsync import __version__
from pgsync.cli.github import REPORT_URL_ENV
from pgsync.cli.main import cli

ROOT = Path(__file__).parent.parent
ACTION = ROOT / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
GITHUB = ROOT / "examples" / "github"
GITLAB = ROOT / "examples" / "gitlab" / ".gitlab-ci.yml"
PLAN_WORKFLOW = GITHUB / "plan-on-pr.yml"
APPLY_WORKFLOW = GITHUB / "apply-on-merge.yml"
DRIFT_WORKFLOW = GITHUB / "drift-schedule.yml"
MATRIX_WORKFLOW = GITHUB / "multi-org-matrix.yml"
WORKFLOWS = (PLAN_WORKFLOW, APPLY_WORKFLOW, DRIFT_WORKFLOW, MATRIX_WORKFLOW)
INTEGRATION_FILES = (ACTION, HOOKS, *WORKFLOWS, GITLAB)
README = ROOT / "README.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DISTRIBUTION = PYPROJECT["project"]["name"]
REPOSITORY = "https://github.com/pgsync/pgsync"
RELEASE_TAG = f"v{__version__}"

ACTION_OUTPUTS = ("has_changes", "creates", "updates", "deletes", "plan_json", "exit_code")
ACTION_INPUTS = {
    "command": "plan",
    "paths": "policygroups/",
    "working-directory": ".",
    "args": "",
    "report": "false",
    "report-artifact": "pgsync-report",
}

# What the examples may use although the CLI does not register it yet (being built now).
# (command,) a command; (command, option) an option; (command, option, value) a choice.
# The lead empties this as the features land.


def _ids(paths: tuple[Path, ...]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def workflow_steps(workflow: Any) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def action_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load(ACTION)["runs"]["steps"]
    return steps


def action_step(step_id: str) -> dict[str, Any]:
    return next(step for step in action_steps() if step.get("id") == step_id)


# --- finding pgsync invocations -----------------------------------------------------------

# `pgsync WORD` where a command starts. In scripts: at a line start, after ; & | ( or a
# backtick, or after `run:` / `entry:`. In YAML comments and prose only the last two: after a
# backtick (`pgsync apply --plan`) or in a commented-out step (`- run: pgsync ...`).
_CALL = r"\s*pgsync\s+(?P<{}>[a-z][^`\n]*)"
PROSE_CALL = re.compile(r"(?:`|\brun:|\bentry:)" + _CALL.format("rest"), re.M)
SCRIPT_CALL = re.compile(r"(?:^|[;&|(`]|\brun:|\bentry:)" + _CALL.format("rest"), re.M)


def shell_words(text: str) -> list[str]:
    """The words of one command, up to the first shell operator or comment."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for word in lexer:
            if set(word) <= set("();<>|&"):
                break
            words.append(word)
    except ValueError:  # unbalanced quotes in prose: plain words are enough to check options
        return text.split()
    return words


def calls_in(text: str, pattern: re.Pattern[str]) -> list[list[str]]:
    calls = []
    for found in pattern.finditer(text):
        calls.append(shell_words(found["rest"]))
    return calls


def yaml_comments(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line.strip()[1:] for line in lines if line.strip().startswith("#"))


def scripts(node: Any) -> Iterator[str]:
    """Shell text anywhere in a parsed file: GitHub `run`, GitLab `*script`, pre-commit `entry`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                yield value
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                yield "\n".join(str(line) for line in value)
            elif key == "entry" and isinstance(value, str):
                yield value
            else:
                yield from scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from scripts(item)


def uses_this_action(step: dict[str, Any]) -> bool:
    uses = str(step.get("uses", ""))
    return uses.startswith(("pgsync/pgsync@", "./"))


def action_calls(node: Any) -> Iterator[list[str]]:
    """Each use of the composite action as the pgsync command line it runs."""
    if isinstance(node, dict):
        if uses_this_action(node):
            given = node.get("with") or {}
            command = str(given.get("command", ACTION_INPUTS["command"]))
            yield [command, *shlex.split(str(given.get("args", "")))]
        for value in node.values():
            yield from action_calls(value)
    elif isinstance(node, list):
        for item in node:
            yield from action_calls(item)


def readme_ci_recipes() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## CI recipes")
    following = text.find("\n## ", start + 1)
    return text[start : following if following != -1 else len(text)]


def invocations(path: Path) -> list[list[str]]:
    if path == README:
        section = readme_ci_recipes()
        blocks = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", section, re.S))
        return calls_in(blocks, SCRIPT_CALL) + calls_in(section, PROSE_CALL)
    document = load(path)
    found: list[list[str]] = []
    for script in scripts(document):
        found += calls_in(script, SCRIPT_CALL)
    found += calls_in(yaml_comments(path), PROSE_CALL)
    found += list(action_calls(document))
    return found


def problems(words: list[str]) -> list[str]:
    """What in one pgsync command line the CLI does not accept."""
    name, *rest = words
    if name not in cli.commands:
        return [f"no command {name!r}"]
    command = cli.commands[name]
    options: dict[str, click.Parameter | None] = {
        opt: param for param in command.params for opt in param.opts
    }
    options.update({"-h": None, "--help": None})  # click's help option is not in params
    found = []
    position = 0
    while position < len(rest):
        word = rest[position]
        position += 1
        if not word.startswith("-") or word == "-":
            continue
        option, _, inline = word.partition("=")
        if option not in options:
            found.append(f"{name} has no option {option}")
            continue
        param = options[option]
        if not isinstance(param, click.Option) or param.is_flag:
            continue
        value = inline or (rest[position] if position < len(rest) else "")
        position += 0 if inline else 1
        choices = getattr(param.type, "choices", None)
        if choices and value not in choices:
            found.append(f"{name} {option} does not accept {value!r}")
    return found


# --- every file -------------------------------------------------------------------------


@pytest.mark.parametrize("path", INTEGRATION_FILES, ids=_ids(INTEGRATION_FILES))
def test_every_integration_file_is_valid_yaml(path: Path) -> None:
    assert load(path) is not None


@pytest.mark.parametrize(
    "path", (*INTEGRATION_FILES, README), ids=_ids((*INTEGRATION_FILES, README))
)
def test_every_pgsync_invocation_uses_real_commands_and_options(path: Path) -> None:
    found = [(words, problem) for words in invocations(path) for problem in problems(words)]
    assert found == []


def test_the_invocation_finder_sees_every_command_the_examples_use() -> None:
    used = {words[0] for path in (*INTEGRATION_FILES, README) for words in invocations(path)}
    assert {"plan", "apply", "drift", "validate"} <= used


def test_the_option_check_rejects_an_unknown_option() -> None:
    assert problems(["plan", "x/", "--no-such-option"]) == ["plan has no option --no-such-option"]


def test_the_option_check_rejects_an_unknown_choice() -> None:
    assert problems(["plan", "x/", "--format=yaml"]) == ["plan --format does not accept 'yaml'"]


@pytest.mark.parametrize("path", (ACTION, *WORKFLOWS), ids=_ids((ACTION, *WORKFLOWS)))
def test_no_script_contains_an_expression(path: Path) -> None:
    """Script injection: values reach scripts only through `env:`, never `${{ }}` in the text."""
    document = load(path)
    steps = action_steps() if path == ACTION else list(workflow_steps(document))
    bodies = [step["run"] for step in steps if "run" in step]
    bodies += [
        step["with"]["script"]
        for step in steps
        if str(step.get("uses", "")).startswith("actions/github-script@")
    ]
    assert [body for body in bodies if "${{" in body] == []


# --- the composite action ---------------------------------------------------------------


def test_action_is_a_composite_action() -> None:
    assert load(ACTION)["runs"]["using"] == "composite"


def test_every_action_run_step_declares_bash() -> None:
    run_steps = [step for step in action_steps() if "run" in step]
    assert run_steps
    assert all(step.get("shell") == "bash" for step in run_steps)


def test_action_sets_up_python_3_11() -> None:
    setup = [step for step in action_steps() if "setup-python" in str(step.get("uses", ""))]
    assert [step["with"]["python-version"] for step in setup] == ["3.11"]


def test_action_inputs_have_the_documented_defaults() -> None:
    inputs = load(ACTION)["inputs"]
    assert {name: spec.get("default") for name, spec in inputs.items()} == ACTION_INPUTS


def test_action_outputs_come_from_the_run_step() -> None:
    outputs = load(ACTION)["outputs"]
    for name in ACTION_OUTPUTS:
        assert outputs[name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_action_accepts_only_commands_pgsync_has() -> None:
    script = action_step("run")["run"]
    allowed = re.search(r"^\s*([a-z|]+)\) ;;", script, re.M)
    assert allowed is not None
    commands = set(allowed[1].split("|"))
    assert commands == {"plan", "apply", "drift", "validate", "import"}
    assert all(name in cli.commands for name in commands)


# --- the composite action's scripts, run with a stand-in for pgsync ---------------------


def executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def step_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {name: value for name, _, value in (line.partition("=") for line in lines)}


class ActionRun:
    """One of the action's bash steps (`run` unless told), with a fake pgsync that records its
    arguments."""

    def __init__(self, tmp_path: Path, step: str = "run") -> None:
        self.tmp = tmp_path
        self.step = step
        self.record = tmp_path / "argv.json"
        self.outputs = tmp_path / "github_output"
        self.fake = executable(
            tmp_path / "fake-pgsync",
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "json.dump(sys.argv[1:], open(os.environ['FAKE_RECORD'], 'w'))\n"
            "print('the plan')\n"
            "sys.exit(int(os.environ.get('FAKE_EXIT', '0')))\n",
        )

    def __call__(
        self,
        command: str = "plan",
        paths: str = "policygroups/",
        args: str = "",
        exit: int = 0,
        report: str = "true",
    ) -> subprocess.CompletedProcess[str]:
        script = self.tmp / f"{self.step}.sh"
        script.write_text(action_step(self.step)["run"], encoding="utf-8")
        env = {
            **os.environ,
            "PGSYNC_REPORT": report,
            "PGSYNC_COMMAND": command,
            "PGSYNC_PATHS": paths,
            "PGSYNC_WORKING_DIRECTORY": str(self.tmp),
            "PGSYNC_ARGS": args,
            "PGSYNC_PYTHON": sys.executable,
            "PGSYNC_BIN": str(self.fake),
            "RUNNER_TEMP": str(self.tmp),
            "GITHUB_OUTPUT": str(self.outputs),
            "FAKE_RECORD": str(self.record),
            "FAKE_EXIT": str(exit),
        }
        return subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, check=False
        )

    def argv(self) -> list[str]:
        recorded: list[str] = json.loads(self.record.read_text(encoding="utf-8"))
        return recorded


@pytest.fixture
def action_run(tmp_path: Path) -> ActionRun:
    return ActionRun(tmp_path)


@pytest.fixture
def report_run(tmp_path: Path) -> ActionRun:
    return ActionRun(tmp_path, "report")


def test_action_passes_each_line_of_paths_as_one_argument(action_run: ActionRun) -> None:
    action_run(paths="  policy groups/a.yaml\n\norgs/acme corp/  \n")
    assert action_run.argv() == ["plan", "policy groups/a.yaml", "orgs/acme corp/"]


def test_action_splits_args_like_a_shell_without_running_them(action_run: ActionRun) -> None:
    action_run(args="--out 'my plan.json' --format markdown $(touch pwned) `touch pwned`")
    assert action_run.argv()[2:] == [
        "--out",
        "my plan.json",
        "--format",
        "markdown",
        "$(touch",
        "pwned)",
        "`touch",
        "pwned`",
    ]
    assert not (action_run.tmp / "pwned").exists()


def test_action_gives_import_no_paths(action_run: ActionRun) -> None:
    action_run(command="import", args="--org acme --out policygroups.yaml")
    assert action_run.argv() == ["import", "--org", "acme", "--out", "policygroups.yaml"]


def test_action_treats_pending_changes_as_success(action_run: ActionRun) -> None:
    result = action_run(exit=2)
    assert result.returncode == 0
    assert step_outputs(action_run.outputs)["exit_code"] == "2"


@pytest.mark.parametrize("code", [1, 3])
def test_action_fails_on_an_error_or_a_blocked_plan(action_run: ActionRun, code: int) -> None:
    result = action_run(exit=code)
    assert result.returncode == code
    assert step_outputs(action_run.outputs)["exit_code"] == str(code)


def test_action_keeps_what_pgsync_printed(action_run: ActionRun) -> None:
    action_run()
    stdout_file = Path(step_outputs(action_run.outputs)["stdout_file"])
    assert stdout_file.read_text(encoding="utf-8") == "the plan\n"


def test_action_refuses_an_unknown_command(action_run: ActionRun) -> None:
    result = action_run(command="destroy; touch pwned")
    assert result.returncode == 1
    assert not action_run.record.exists()
    assert not (action_run.tmp / "pwned").exists()


def test_action_refuses_empty_paths(action_run: ActionRun) -> None:
    assert action_run(paths=" \n ").returncode == 1
    assert not action_run.record.exists()


def test_action_refuses_args_with_unbalanced_quotes(action_run: ActionRun) -> None:
    assert action_run(args="--out 'plan.json").returncode == 1
    assert not action_run.record.exists()


def test_action_reports_before_the_command_so_its_plan_can_link_the_report() -> None:
    ids = [step.get("id") for step in action_steps()]
    assert ids.index("report") < ids.index("upload") < ids.index("run")


def test_action_uploads_the_report_with_the_upload_action_the_examples_pin() -> None:
    upload = action_step("upload")
    pins = {
        str(step["uses"])
        for step in workflow_steps(load(PLAN_WORKFLOW))
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    }
    assert {upload["uses"]} == pins
    assert upload["with"] == {
        "name": "${{ inputs.report-artifact }}",
        "path": "${{ steps.report.outputs.report_file }}",
        "if-no-files-found": "error",
    }


def test_action_uploads_only_a_written_report_and_a_failed_upload_keeps_the_plan() -> None:
    upload = action_step("upload")
    assert upload["if"] == "steps.report.outputs.report_file != ''"
    assert upload["continue-on-error"] is True


def test_action_gives_the_command_the_uploaded_reports_url() -> None:
    env = action_step("run")["env"]
    assert env[REPORT_URL_ENV] == "${{ steps.upload.outputs.artifact-url }}"


def test_action_outputs_the_report_file_and_its_artifact_url() -> None:
    outputs = load(ACTION)["outputs"]
    assert outputs["report_file"]["value"] == "${{ steps.report.outputs.report_file }}"
    assert outputs["report_url"]["value"] == "${{ steps.upload.outputs.artifact-url }}"


def test_action_writes_no_report_unless_asked(report_run: ActionRun) -> None:
    assert report_run(report="false").returncode == 0
    assert not report_run.record.exists()
    assert step_outputs(report_run.outputs) == {}


def test_action_reports_on_the_paths_into_a_file_of_the_runner(report_run: ActionRun) -> None:
    assert report_run(paths="policy groups/a.yaml\norgs/").returncode == 0
    report_file = step_outputs(report_run.outputs)["report_file"]
    assert report_run.argv() == ["report", "policy groups/a.yaml", "orgs/", "--out", report_file]
    assert Path(report_file).parent.parent == report_run.tmp


@pytest.mark.parametrize("paths", ["  a b.yaml \n\n\tc/\n", "one.yaml", "x\r\ny\n  \n"])
def test_action_reads_paths_for_the_report_as_for_the_command(tmp_path: Path, paths: str) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "report").mkdir()
    command, report = ActionRun(tmp_path / "run"), ActionRun(tmp_path / "report", "report")
    for harness in (command, report):
        harness(paths=paths)
    assert report.argv()[1:-2] == command.argv()[1:]


def test_action_refuses_a_report_value_other_than_true_or_false(report_run: ActionRun) -> None:
    result = report_run(report="yes")
    assert result.returncode == 1
    assert "'report' must be true or false" in result.stderr
    assert not report_run.record.exists()


def test_action_refuses_a_report_for_import(report_run: ActionRun) -> None:
    result = report_run(command="import")
    assert result.returncode == 1
    assert "import does not read" in result.stderr
    assert not report_run.record.exists()


def test_action_leaves_empty_paths_to_the_run_step(report_run: ActionRun) -> None:
    assert report_run(paths=" \n").returncode == 0
    assert not report_run.record.exists()


def test_a_failed_report_is_a_warning_and_the_command_still_runs(report_run: ActionRun) -> None:
    result = report_run(exit=1)
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1].startswith("::warning title=pgsync report::")
    assert "exit 1" in result.stdout
    assert step_outputs(report_run.outputs) == {}


def test_action_installs_its_own_checkout_and_nothing_else() -> None:
    """No registry is asked for pgsync: the checkout is the ref that `uses:` pinned."""
    script = action_step("install")["run"]
    installs = [shell_words(line) for line in re.findall(r"pip install (.*)", script)]
    assert installs == [["--quiet", "--disable-pip-version-check", "${GITHUB_ACTION_PATH}"]]


def test_action_install_takes_no_input() -> None:
    assert not any("inputs." in str(value) for value in action_step("install")["env"].values())


@pytest.mark.parametrize("path", (*WORKFLOWS, README), ids=_ids((*WORKFLOWS, README)))
def test_every_use_of_the_action_pins_this_release(path: Path) -> None:
    pins = re.findall(r"pgsync/pgsync@(\S+)", path.read_text(encoding="utf-8"))
    assert pins
    assert set(pins) == {RELEASE_TAG}


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_every_use_of_the_action_passes_only_its_inputs(path: Path) -> None:
    given = {
        name
        for step in workflow_steps(load(path))
        if uses_this_action(step)
        for name in step.get("with", {})
    }
    assert given <= set(ACTION_INPUTS)


@pytest.mark.parametrize("path", (README, HOOKS), ids=_ids((README, HOOKS)))
def test_pre_commit_examples_pin_this_release(path: Path) -> None:
    revs = re.findall(r"^[#\s]*rev: (\S+)$", path.read_text(encoding="utf-8"), re.M)
    assert revs
    assert set(revs) == {RELEASE_TAG}


# --- what installs pgsync, in every file ------------------------------------------------


def tracked_text_files() -> Iterator[Path]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout
    for name in listed.split("\0"):
        path = ROOT / name
        if name and path.is_file() and not path.is_symlink():
            yield path


def requirement_names(text: str) -> list[str]:
    """The name of each requirement that a `pip install` / `pipx install` in `text` gives."""
    names = []
    for found in re.finditer(r"\bpipx? install (.*)", text):
        for word in shell_words(found[1]):
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", word)
            if not word.startswith("-") and name:
                names.append(name[0])
    return names


def test_no_file_installs_pgsync_by_its_bare_name() -> None:
    """PyPI's `pgsync` is another program."""
    found = [
        (str(path.relative_to(ROOT)), name)
        for path in tracked_text_files()
        for name in requirement_names(path.read_text(encoding="utf-8", errors="replace"))
        if name.lower() == "pgsync"
    ]
    assert found == []


def test_the_bare_name_check_sees_the_forms_pip_accepts() -> None:
    install = "install"  # spelled apart, so that the check does not find this file's samples
    lines = (
        f'pip {install} --quiet "pgsync${{V:+==$V}}"',
        f"pipx {install} pgsync",
        f"pip {install} -U pgsync[x]",
        f'pip {install} "{DISTRIBUTION} @ https://x/pgsync.tar.gz"',
    )
    assert requirement_names("\n".join(lines)) == ["pgsync", "pgsync", "pgsync", DISTRIBUTION]


def test_no_file_asks_for_the_latest_version() -> None:
    found = [
        str(path.relative_to(ROOT))
        for path in tracked_text_files()
        if re.search(r"\bversion:\s*[\"']?latest\b", path.read_text("utf-8", errors="replace"))
    ]
    assert found == []


@pytest.mark.parametrize("path", (GITLAB, README), ids=_ids((GITLAB, README)))
def test_installs_from_the_repository_name_the_distribution_at_this_release(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace(
        "${PGSYNC_VERSION}", str(load(GITLAB)["variables"]["PGSYNC_VERSION"])
    )
    requirements = re.findall(r'pip install [^"\n]*"([^"]+)"', text)
    assert requirements
    archive = f"{REPOSITORY}/archive/refs/tags/{RELEASE_TAG}.tar.gz"
    assert set(requirements) == {f"{DISTRIBUTION} @ {archive}"}


# --- the GitHub examples ----------------------------------------------------------------


def test_plan_workflow_has_least_privilege_permissions() -> None:
    assert load(PLAN_WORKFLOW)["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_plan_workflow_runs_on_pull_requests_touching_the_policy_files() -> None:
    triggers = load(PLAN_WORKFLOW)[True]  # PyYAML reads the key `on` as True
    assert list(triggers) == ["pull_request"]
    assert "policygroups/**" in triggers["pull_request"]["paths"]


def test_plan_workflow_plans_to_a_markdown_and_a_json_file() -> None:
    calls = list(action_calls(load(PLAN_WORKFLOW)))
    assert calls == [["plan", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"]]


def test_plan_workflow_uploads_the_plan_json() -> None:
    uploads = [
        step["with"]["path"]
        for step in workflow_steps(load(PLAN_WORKFLOW))
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads == ["plan.json"]


def github_scripts(path: Path) -> list[str]:
    return [
        step["with"]["script"]
        for step in workflow_steps(load(path))
        if str(step.get("uses", "")).startswith("actions/github-script@")
    ]


@pytest.mark.parametrize(
    "path", [PLAN_WORKFLOW, MATRIX_WORKFLOW], ids=_ids((PLAN_WORKFLOW, MATRIX_WORKFLOW))
)
def test_plan_comment_is_sticky_by_its_marker(path: Path) -> None:
    [script] = github_scripts(path)
    assert "<!-- pgsync:plan:${key} -->" in script
    assert "github.paginate(github.rest.issues.listComments" in script
    assert "updateComment" in script
    assert "createComment" in script


def test_apply_workflow_never_overlaps_or_cancels_an_apply() -> None:
    concurrency = load(APPLY_WORKFLOW)["concurrency"]
    assert concurrency["group"].startswith("pgsync-apply-")
    assert concurrency["cancel-in-progress"] is False


def test_apply_workflow_runs_on_push_to_main() -> None:
    assert load(APPLY_WORKFLOW)[True]["push"]["branches"] == ["main"]


def test_apply_workflow_replans_then_applies_that_plan_without_prompting() -> None:
    calls = list(action_calls(load(APPLY_WORKFLOW)))
    assert calls == [
        ["plan", "--out", "plan.json", "--detailed-exitcode"],
        ["apply", "--yes", "--plan", "plan.json"],
    ]


def test_apply_workflow_shows_how_to_apply_the_reviewed_plan() -> None:
    comments = yaml_comments(APPLY_WORKFLOW)
    assert "actions/download-artifact@" in comments
    assert ["apply", "policygroups/", "--yes", "--plan", "plan.json"] in calls_in(
        comments, PROSE_CALL
    )


def test_drift_workflow_runs_on_a_schedule_and_by_hand() -> None:
    triggers = load(DRIFT_WORKFLOW)[True]
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"]


def test_drift_workflow_builds_only_arguments_drift_accepts() -> None:
    """The drift step's `args` come from the step before it: with or without `--base`."""
    [base] = [step for step in workflow_steps(load(DRIFT_WORKFLOW)) if step.get("id") == "base"]
    built = re.findall(r'echo "args=([^"]*)"', base["run"])
    assert any("--base" in args for args in built)
    assert [problems(["drift", *shell_words(args)]) for args in built] == [[]] * len(built)


def test_drift_workflow_reports_drift_in_one_labelled_issue() -> None:
    steps = list(workflow_steps(load(DRIFT_WORKFLOW)))
    on_drift = [step for step in steps if step.get("if") == "steps.drift.outputs.exit_code == '2'"]
    [script] = [step["with"]["script"] for step in on_drift]
    assert "'pgsync-drift'" in script
    assert "github.paginate(github.rest.issues.listForRepo" in script
    assert "issues.update(" in script


def test_matrix_workflow_plans_every_org_without_failing_fast() -> None:
    plan = load(MATRIX_WORKFLOW)["jobs"]["plan"]
    assert plan["strategy"]["fail-fast"] is False
    assert plan["env"]["PGSYNC_PATHS"] == "orgs/${{ matrix.org }}/"


def action_inputs_in(path: Path) -> list[dict[str, Any]]:
    return [step.get("with", {}) for step in workflow_steps(load(path)) if uses_this_action(step)]


def test_plan_workflow_links_the_coverage_report_from_its_comment() -> None:
    assert [given.get("report") for given in action_inputs_in(PLAN_WORKFLOW)] == [True]


def test_matrix_workflow_uploads_one_report_per_organization() -> None:
    """upload-artifact v4 refuses a second artifact of the same name in one run."""
    (given,) = action_inputs_in(MATRIX_WORKFLOW)
    assert given["report"] is True
    assert given["report-artifact"] == "pgsync-report-${{ matrix.org }}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_github_scripts_are_valid_javascript(path: Path) -> None:
    # actions/github-script runs the script as the body of an async function.
    for script in github_scripts(path):
        esprima.parseScript(f"(async () => {{\n{script}\n}})();\n")


def test_the_javascript_check_rejects_a_syntax_error() -> None:
    with pytest.raises(esprima.Error):
        esprima.parseScript("(async () => {\nconst x = ;\n})();\n")


# --- pre-commit -------------------------------------------------------------------------


def test_pre_commit_hook_runs_pgsync_validate_on_the_files() -> None:
    [hook] = load(HOOKS)
    assert hook["id"] == "pgsync-validate"
    assert hook["name"]
    assert hook["entry"] == "pgsync validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert hook["require_serial"] is False


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("policygroups.yaml", True),
        ("policy-groups-prod.yml", True),
        ("infra/policygroups/prod.yml", True),
        ("orgs/acme/policygroups.yaml", True),
        ("README.md", False),
        ("policygroups.json", False),
        (".github/workflows/ci.yml", False),
    ],
)
def test_pre_commit_hook_files_pattern(path: str, matched: bool) -> None:
    [hook] = load(HOOKS)
    assert bool(re.search(hook["files"], path)) is matched  # pre-commit uses re.search


# --- GitLab -----------------------------------------------------------------------------


def test_gitlab_apply_uses_a_resource_group() -> None:
    assert load(GITLAB)["apply"]["resource_group"] == "pgsync-apply"


def test_gitlab_validate_publishes_a_code_quality_report() -> None:
    reports = load(GITLAB)["validate"]["artifacts"]["reports"]
    assert reports["codequality"] == "gl-code-quality-report.json"


def test_gitlab_drift_runs_only_in_a_schedule_and_lets_drift_pass() -> None:
    drift = load(GITLAB)["drift"]
    assert drift["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule" && $PGSYNC_JOB == "drift"'}]
    assert drift["allow_failure"] == {"exit_codes": [2]}


def test_gitlab_inline_python_compiles() -> None:
    document = load(GITLAB)
    snippets = [
        snippet
        for job in ("validate", "plan")
        for snippet in re.findall(r"<<'PY'\n(.*?)\nPY\n", document[job]["script"][0], re.S)
    ]
    assert len(snippets) == 2
    for snippet in snippets:
        compile(snippet, "inline", "exec")


def test_gitlab_validate_turns_pgsync_errors_into_code_quality(tmp_path: Path) -> None:
    """The real `pgsync validate` output, through the job's script, into the report."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "pgsync", f'#!/bin/sh\nexec "{sys.executable}" -m pgsync "$@"\n')
    (bin_dir / "python3").symlink_to(sys.executable)
    (tmp_path / "policygroups").mkdir()
    (tmp_path / "policygroups" / "bad.yaml").write_text(
        "organization: acme\npolicyGroups:\n  - name: a\n    mode: sometimes\n", encoding="utf-8"
    )
    script = tmp_path / "validate.sh"
    script.write_text("\n".join(load(GITLAB)["validate"]["script"]), encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "PGSYNC_PATHS": "policygroups/",
    }
    result = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert result.returncode == 1
    report = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    [issue] = report
    assert issue["location"] == {"path": "policygroups/bad.yaml", "lines": {"begin": 4}}
    assert issue["check_name"] == "pgsync-validate"
    assert issue["severity"] == "major"
    assert len(issue["fingerprint"]) == 64


# --- README -----------------------------------------------------------------------------


def test_readme_ci_recipes_follow_the_in_ci_section() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.M)
    assert headings[headings.index("In CI") + 1] == "CI recipes"


def test_readme_links_every_example_pipeline() -> None:
    section = readme_ci_recipes()
    for path in (*WORKFLOWS, GITLAB, HOOKS, ACTION):
        assert f"({path.relative_to(ROOT)})" in section


def test_readme_documents_every_action_input_and_output() -> None:
    section = readme_ci_recipes()
    for name in (*ACTION_INPUTS, *load(ACTION)["outputs"]):
        assert f"| `{name}` |" in section


def test_readme_ci_recipe_snippets_are_valid_yaml() -> None:
    snippets = re.findall(r"```yaml\n(.*?)```", readme_ci_recipes(), re.S)
    assert snippets
    assert all(yaml.safe_load(snippet) for snippet in snippets)
