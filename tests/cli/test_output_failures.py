"""Output that cannot be written is one line on stderr and exit 1, never a traceback.

A full disk is played by a process that may write no byte to any file (RLIMIT_FSIZE 0).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgsync.emulator import EmulatorServer
from pgsync.emulator.fixture import demo_fixture

EXAMPLE = Path(__file__).parents[2] / "examples" / "policygroups.yaml"
# `python -m pgsync ARGS` in a process that may write no byte to any file (as on a full disk).
NO_ROOM = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
sys.argv[0] = "pgsync"
runpy.run_module("pgsync", run_name="__main__", alter_sys=True)
"""
NO_BYTECODE = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
COMMANDS = [["--version"], ["schema"], ["validate", str(EXAMPLE)], ["--help"]]


def pgsync(args: list[str], stdout: int) -> subprocess.CompletedProcess[str]:
    """`python -m pgsync ARGS` with its standard output on `stdout`."""
    return subprocess.run(
        [sys.executable, "-m", "pgsync", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:1]) for a in COMMANDS])
def test_output_with_no_room_is_one_line_and_exit_1(args: list[str], tmp_path: Path) -> None:
    with (tmp_path / "out").open("w") as out:
        result = subprocess.run(
            [sys.executable, "-c", NO_ROOM, *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            env=NO_BYTECODE,
        )
    assert (result.returncode, result.stderr) == (
        1,
        "error: cannot write the output: File too large\n",
    )


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:1]) for a in COMMANDS])
def test_a_reader_that_went_away_gets_no_message_and_exit_1(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        result = pgsync(args, write)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (1, "")


def test_a_journal_that_cannot_grow_stops_apply_before_its_first_write(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with EmulatorServer(demo_fixture()) as server:
        args = ["apply", str(EXAMPLE), "--yes", "--journal", str(journal), "--api-url", server.url]
        result = subprocess.run(
            [sys.executable, "-c", NO_ROOM, *args],
            capture_output=True,
            text=True,
            check=False,
            env=NO_BYTECODE,
        )
        writes = server.writes()
    assert result.returncode == 1
    assert result.stderr.endswith(f"error: cannot write journal {journal}: File too large\n")
    assert writes == []
