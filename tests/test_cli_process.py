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
