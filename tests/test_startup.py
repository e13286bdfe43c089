"""Start-up stays light: a command, and a heavy dependency, is imported only when it is used.

Each case runs pgsync as `python -m pgsync` does, in its own process, which then writes down
every module it imported. How long start-up takes is measured in bench/, not here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pgsync.cli.emulator import APIS, FAULT_KINDS
from pgsync.cli.entry import VERSION_LINE
from pgsync.cli.main import COMMANDS, cli
from pgsync.emulator.faults import KINDS
from pgsync.emulator.state import APIS as EMULATOR_APIS

EXAMPLE = Path(__file__).parent.parent / "examples" / "policygroups.yaml"
HEAVY = ("httpx", "httpcore", "jsonschema", "deepdiff", "numpy", "pgsync.emulator")
COMMAND_MODULES = {where.partition(":")[0] for where, _ in COMMANDS.values()}
Imported = Callable[..., set[str]]
"""Runs `pgsync ARGS` in a process of its own (exit code `code`, default 0); the names of the
modules it imported."""

# `python -m pgsync`, then the names of the modules imported, into the file named first.
_PROBE = """
import runpy, sys
report = sys.argv.pop(1)
try:
    runpy.run_module("pgsync", run_name="__main__", alter_sys=True)
finally:
    with open(report, "w", encoding="utf-8") as file:
        file.write("\\n".join(sys.modules))
"""


@pytest.fixture
def imported(tmp_path: Path) -> Imported:
    """The modules that `pgsync ARGS` imports, run in a process of its own."""

    def run(*args: str, code: int = 0) -> set[str]:
        report = tmp_path / "modules.txt"
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, str(report), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == code, result.stderr
        return set(report.read_text(encoding="utf-8").split("\n"))

    return run


def heavy(modules: set[str]) -> set[str]:
    """Which of HEAVY `modules` holds (a package counts when any of its modules is there)."""
    return {h for h in HEAVY for m in modules if m == h or m.startswith(f"{h}.")}


def test_version_imports_no_heavy_module(imported: Imported) -> None:
    assert heavy(imported("--version")) == set()


def test_help_imports_no_heavy_module(imported: Imported) -> None:
    assert heavy(imported("--help")) == set()


def test_help_imports_no_command_module(imported: Imported) -> None:
    assert imported("--help") & COMMAND_MODULES == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_a_command_imports_no_heavy_module(name: str, imported: Imported) -> None:
    assert heavy(imported(name, "--help")) == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_a_command_imports_no_other_command_module(name: str, imported: Imported) -> None:
    own = COMMANDS[name][0].partition(":")[0]
    assert imported(name, "--help") & COMMAND_MODULES == {own}


def test_version_imports_not_even_click(imported: Imported) -> None:
    assert "click" not in imported("--version")


def test_version_says_what_clicks_version_option_says() -> None:
    assert CliRunner().invoke(cli, ["--version"]).output == VERSION_LINE + "\n"


def test_version_is_the_console_scripts_first_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgsync", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == VERSION_LINE + "\n"


def test_validate_of_a_valid_file_imports_no_heavy_module(imported: Imported) -> None:
    assert heavy(imported("validate", str(EXAMPLE))) == set()


def test_validate_of_an_invalid_file_words_its_errors_with_jsonschema(
    imported: Imported, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("organization: acme\npolicyGroups:\n  - name: x\n    mode: loud\n")
    assert "jsonschema" in imported("validate", str(broken), code=1)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_summary_of_a_command_is_the_first_sentence_of_its_help(name: str) -> None:
    assert COMMANDS[name][1] == cli.commands[name].get_short_help_str(limit=1000)


def test_help_lists_the_commands_as_click_lists_them_loaded() -> None:
    loaded = click.Group("pgsync", commands={name: cli.commands[name] for name in COMMANDS})
    expected, listed = click.HelpFormatter(width=80), click.HelpFormatter(width=80)
    loaded.format_commands(click.Context(loaded), expected)
    cli.format_commands(click.Context(cli), listed)
    assert listed.getvalue() == expected.getvalue()


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgsync", "--help"], capture_output=True, text=True, check=True
    )
    listed = re.findall(r"^  (\S+)  ", result.stdout.split("Commands:\n", 1)[1], re.M)
    assert listed == sorted(COMMANDS)


def test_the_emulator_help_offers_the_emulators_own_fault_kinds() -> None:
    assert FAULT_KINDS == KINDS


def test_the_emulator_help_offers_the_emulators_own_apis() -> None:
    assert APIS == EMULATOR_APIS
