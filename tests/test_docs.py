"""The README stays true to the code: commands, options, the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from pgsync.cli import cli

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
