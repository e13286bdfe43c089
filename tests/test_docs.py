"""The README stays true to the code: commands, options, set-up commands, sample outputs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, demo_fixture

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"`pgsync {name}" in README


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_of_every_command_is_in_the_readme(name: str) -> None:
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            longest = max(param.opts, key=len)
            if longest in ("--help",):
                continue
            assert longest in README, f"{name} {longest} is not documented"


def test_readme_opens_with_the_two_set_up_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "pip install . && pgsync demo"
    assert "pytest" in blocks[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = re.findall(r"```bash\n(.*?)```", README, re.S)[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


SAMPLE = (
    "<!-- output of a real run: tests/test_docs.py runs the command against the demo emulator -->"
)
SAMPLES = re.findall(re.escape(SAMPLE) + r"\n```console\n\$ pgsync (.*?)\n(.*?)```", README, re.S)


def test_the_readme_shows_the_plan_of_the_example_from_a_real_run() -> None:
    assert "plan examples/policygroups.yaml" in [command for command, _ in SAMPLES]


@pytest.mark.parametrize(("command", "printed"), SAMPLES, ids=[c for c, _ in SAMPLES])
def test_a_sample_output_in_the_readme_is_what_the_command_prints(
    command: str, printed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Paths in the samples are the repository's, as a reader of the README runs them.
    monkeypatch.chdir(ROOT)
    with EmulatorServer(demo_fixture()) as server:
        result = CliRunner().invoke(cli, [*shlex.split(command), "--api-url", server.url])
    assert result.stdout == printed


@pytest.mark.parametrize("args", [(), ("plan",), ("apply",)], ids=["pgsync", "plan", "apply"])
def test_the_help_of_what_can_exit_3_says_so(args: tuple[str, ...]) -> None:
    shown = " ".join(CliRunner().invoke(cli, [*args, "--help"]).output.split())
    assert "3 a change is blocked by a safety rule" in shown


def test_the_help_of_drift_says_it_never_exits_3() -> None:
    shown = " ".join(CliRunner().invoke(cli, ["drift", "--help"]).output.split())
    assert "so drift never exits 3" in shown


def test_the_readme_lists_exit_code_3() -> None:
    assert "| 3 | a change is blocked by a safety rule (`plan`, `apply`;" in README
