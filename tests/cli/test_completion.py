"""Shell completion through click's own mechanism (as the README's "Shell completion" says),
and `pgsync` with no arguments: the help, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgsync.cli.main import COMMANDS

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def pgsync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgsync", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("shell", "start"),
    [("bash", "_pgsync_completion() {"), ("zsh", "#compdef pgsync"), ("fish", "function")],
)
def test_the_completion_script_of_each_shell_is_printed(shell: str, start: str) -> None:
    result = pgsync(_PGSYNC_COMPLETE=f"{shell}_source")
    assert result.returncode == 0
    assert result.stdout.startswith(start)
    assert "_PGSYNC_COMPLETE=" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_readme_shows_how_to_install_the_completion_of_each_shell(shell: str) -> None:
    assert f"_PGSYNC_COMPLETE={shell}_source pgsync" in README


def test_the_bash_script_completes_the_pgsync_command() -> None:
    script = pgsync(_PGSYNC_COMPLETE="bash_source").stdout
    assert "complete -o nosort -F _pgsync_completion pgsync" in script


def test_a_command_name_is_completed_though_commands_are_loaded_lazily() -> None:
    result = pgsync(COMP_WORDS="pgsync pl", COMP_CWORD="1", _PGSYNC_COMPLETE="bash_complete")
    assert result.returncode == 0
    assert result.stdout.split() == ["plain,plan"]


def test_every_command_name_is_offered_after_pgsync() -> None:
    result = pgsync(COMP_WORDS="pgsync ", COMP_CWORD="1", _PGSYNC_COMPLETE="bash_complete")
    names = [line.removeprefix("plain,") for line in result.stdout.split()]
    assert names == sorted(COMMANDS)


def test_a_commands_options_are_completed() -> None:
    words = "pgsync plan --detailed-e"
    result = pgsync(COMP_WORDS=words, COMP_CWORD="2", _PGSYNC_COMPLETE="bash_complete")
    assert result.stdout.split() == ["plain,--detailed-exitcode"]


def test_pgsync_alone_prints_the_help_on_stdout_and_exits_0() -> None:
    result = pgsync()
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: pgsync [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stdout
    assert result.stderr == ""
