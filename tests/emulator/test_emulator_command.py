"""`pgsync emulator` as a process: a one-line error and exit 1 when it cannot start, a banner
that says what it serves when it can."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DATA = Path(__file__).parents[1] / "data" / "emulator"
README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def emulator_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "pgsync", "emulator", *args]


def failed_start(*args: str) -> subprocess.CompletedProcess[str]:
    """Run an emulator that must refuse to start: it exits by itself."""
    command = emulator_process(*args)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def serving(*args: str) -> Iterator[list[str]]:
    """A running emulator: the lines it printed on start, up to "Press Ctrl-C to stop."."""
    process = subprocess.Popen(emulator_process(*args), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        yield lines
    finally:
        process.terminate()
        process.wait(timeout=10)


def banner(*args: str) -> list[str]:
    with serving(*args) as lines:
        return lines


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that this test holds, listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_a_busy_port_is_one_line_naming_the_address_and_the_way_out(busy_port: int) -> None:
    result = failed_start("--port", str(busy_port))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{busy_port}: address already in use"
        " (choose another with --port, or --port 0 for any free port)\n"
    )
    assert result.stdout == ""


def test_an_address_of_another_machine_is_one_line() -> None:
    result = failed_start("--host", "192.0.2.1")
    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot listen on 192.0.2.1:0: not an address of this machine"
        " (choose another with --host)\n"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "organizations:\n  acme:\n    stacks: [web/prod\n",
            "4:1: error: invalid YAML: while parsing a flow sequence (line 3, column 13),"
            " did not find expected ',' or ']'",
        ),
        (
            "organizations:\n  acme:\n    stack: [web/prod]\n",
            "3:5: error: unknown key 'stack' (known: accounts, defaultGroups, features,"
            " policyGroups, policyPacks, stacks)",
        ),
        (
            "organizations:\n  acme:\n    features: {matchRules: 1}\n",
            "3:28: error: expected true or false, not a number",
        ),
        (
            "organizations:\n  acme:\n    policyGroups:\n      - name: g\n        mode: strict\n",
            "5:15: error: 'strict' is not one of ['audit', 'preventative']",
        ),
    ],
    ids=["invalid-yaml", "unknown-key", "wrong-type", "schema-invalid"],
)
def test_a_bad_fixture_is_one_line_at_its_file_line_and_column(
    tmp_path: Path, text: str, error: str
) -> None:
    fixture = tmp_path / "fixture.yaml"
    fixture.write_text(text, encoding="utf-8")
    result = failed_start("--fixture", str(fixture))
    assert result.returncode == 1
    assert result.stderr == f"{fixture}:{error}\n"


def test_a_state_file_that_is_not_json_is_one_line_at_its_line_and_column(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"formatVersion": 2,\n  oops}\n', encoding="utf-8")
    result = failed_start("--state", str(state))
    assert result.returncode == 1
    assert result.stderr == (
        f"{state}:2:3: error: the state file is not JSON:"
        " Expecting property name enclosed in double quotes\n"
    )


def test_a_state_file_in_a_missing_directory_is_refused_before_serving(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "state.json"
    result = failed_start("--state", str(state))
    assert result.returncode == 1
    assert result.stderr == (
        f"{state}: error: cannot write the state file: directory {state.parent} does not exist\n"
    )


def test_the_banner_names_each_organization_with_its_groups_the_url_and_the_api(
    tmp_path: Path,
) -> None:
    fixture = tmp_path / "fixture.yaml"
    fixture.write_text(
        "organizations:\n  acme:\n    policyGroups: [{name: prod}]\n  beta: {}\n",
        encoding="utf-8",
    )
    with serving("--fixture", str(fixture), "--port", "0") as lines:
        url = lines[-2].removeprefix("  export PULUMI_BACKEND_URL=")
        assert lines[0] == (
            f"pgsync emulator: serving acme (3 groups), beta (2 groups) at {url};"
            " current API; no token needed"
        )
        assert httpx.get(f"{url}/api/orgs/beta/policygroups").status_code == 200


def test_the_banner_says_the_fixtures_token_is_wanted_and_never_shows_it() -> None:
    lines = banner("--fixture", str(DATA / "two-orgs.yaml"), "--api", "legacy")
    assert lines[0].endswith(
        "; legacy API; token required (set PULUMI_ACCESS_TOKEN to the fixture's token)"
    )
    assert "fixture-token" not in "\n".join(lines)


def test_the_banner_says_the_token_option_is_wanted_and_never_shows_it() -> None:
    lines = banner("--token", "s3cret-emulator-token")
    assert lines[0].endswith(
        "; current API; token required (set PULUMI_ACCESS_TOKEN to the --token value)"
    )
    assert "s3cret-emulator-token" not in "\n".join(lines)


def test_the_readme_shows_the_banner_as_the_emulator_prints_it() -> None:
    first = banner()[0]
    url = first.split(" at ")[1].split(";")[0]
    assert f"\n{first.replace(url, 'http://127.0.0.1:8080')}\n" in README


def test_the_readme_shows_the_busy_port_error_as_the_emulator_prints_it(busy_port: int) -> None:
    error = failed_start("--port", str(busy_port)).stderr.strip()
    documented = " ".join(README.split())
    assert error.replace(str(busy_port), "8080") in documented.replace("`", "")
