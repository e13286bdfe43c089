"""The installed command as a separate process: the emulator server and the TTY prompt."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pgsync.emulator import EmulatorServer

GROUPS = "organization: acme\npolicyGroups:\n  - name: tty-made\n    stacks: [web/prod]\n"
CHANGED_PROD = "organization: acme\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n"


def pgsync_process(*args: str, **kwargs: object) -> list[str]:
    return [sys.executable, "-m", "pgsync", *args]


def read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def run_on_tty(args: list[str], answer: bytes) -> tuple[int, bytes]:
    """Run with stdin/stdout on a pseudo-terminal, answer the prompt, return (code, output)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    try:
        output = read_until(master, b"Only 'yes' is accepted")
        os.write(master, answer)
        code = process.wait(timeout=60)
        output += read_until(master, b"\x00", timeout=0.5)
    finally:
        os.close(master)
    return code, output


def plan_on_tty(server: EmulatorServer, tmp_path: Path, **env: str) -> bytes:
    """What `pgsync plan` shows on a terminal (stdout and stderr both), with `env` set."""
    path = tmp_path / "groups.yaml"
    path.write_text(CHANGED_PROD)
    args = pgsync_process("plan", str(path), "--api-url", server.url)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        args, stdout=slave, stderr=slave, close_fds=True, env={**os.environ, **env}
    )
    os.close(slave)
    try:
        # No marker: the output ends when the process closes the terminal.
        output = read_until(master, b"\x00")
        process.wait(timeout=60)
    finally:
        os.close(master)
    return output


def test_a_plan_on_a_dumb_terminal_has_no_colour_and_progress_as_plain_lines(
    server: EmulatorServer, tmp_path: Path
) -> None:
    output = plan_on_tty(server, tmp_path, TERM="dumb")
    assert b"\x1b" not in output
    # The terminal itself turns each line feed into \r\n; no other \r is pgsync's.
    assert b"\r" not in output.replace(b"\r\n", b"\n")
    assert b"reading policy groups 1/1\r\n" in output


def test_a_plan_on_a_terminal_with_an_empty_no_color_is_coloured_with_progress_in_place(
    server: EmulatorServer, tmp_path: Path
) -> None:
    output = plan_on_tty(server, tmp_path, TERM="xterm-256color", NO_COLOR="")
    assert b"\x1b[33m~ prod" in output
    assert b"\rreading policy groups 1/1" in output


def test_a_plan_on_a_terminal_with_no_color_set_has_no_colour(
    server: EmulatorServer, tmp_path: Path
) -> None:
    output = plan_on_tty(server, tmp_path, TERM="xterm-256color", NO_COLOR="1")
    assert b"\x1b[3" not in output
    assert b"~ prod" in output


def test_apply_on_a_terminal_applies_after_yes(emulator: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(GROUPS)
    code, output = run_on_tty(
        pgsync_process("apply", str(path), "--api-url", emulator.url), b"yes\n"
    )
    assert code == 0, output.decode()
    assert emulator.group("acme", "tty-made") is not None


def test_apply_on_a_terminal_cancels_on_anything_but_yes(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(GROUPS)
    code, output = run_on_tty(pgsync_process("apply", str(path), "--api-url", emulator.url), b"y\n")
    assert code == 1
    assert b"apply cancelled" in output
    assert emulator.writes() == []


def test_emulator_command_serves_the_demo_org_on_loopback() -> None:
    process = subprocess.Popen(
        pgsync_process("emulator", "--port", "0"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = process.stdout.readline().removeprefix("  export PULUMI_BACKEND_URL=").strip()
        assert url.startswith("http://127.0.0.1:")
        assert first.startswith(f"pgsync emulator: serving acme (5 groups) at {url};")
        body = httpx.get(f"{url}/api/orgs/acme/policygroups").json()
        assert "default-policy-group" in {g["name"] for g in body["policyGroups"]}
    finally:
        process.terminate()
        process.wait(timeout=10)
