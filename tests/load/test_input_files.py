"""Input files that cannot be read are errors, never skips: nothing is planned without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from permissions import without_file_permission_override
from pgsync.cli.main import cli
from pgsync.core.errors import PgsyncError, ValidationFailed
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.files import LIMIT_ENV, MAX_INPUT_BYTES
from pgsync.load.desired import load_desired

BASE = {"organization": "acme", "prune": True, "policyGroups": [{"name": "base00"}]}
KEEP = {"organization": "acme", "policyGroups": [{"name": "keep00"}]}


def pgsync(server: EmulatorServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url], env=env)


@pytest.fixture
def live_keep() -> Iterator[EmulatorServer]:
    """An organization where both groups of the directory below are live."""
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "base00"}, {"name": "keep00"}]))) as s:
        yield s


def pruning_directory(tmp_path: Path) -> Path:
    """`10-base.yaml` with prune: true; `20-keep.yaml` (declaring keep00) is the test's to make."""
    directory = tmp_path / "groups"
    directory.mkdir()
    (directory / "10-base.yaml").write_text(json.dumps(BASE), encoding="utf-8")
    return directory


def only_problem(path: str | Path) -> str:
    with pytest.raises(ValidationFailed) as failed:
        load_desired([path])
    (problem,) = failed.value.problems
    return str(problem)


def assert_plan_and_apply_refuse(server: EmulatorServer, directory: Path, message: str) -> None:
    """Exit 1 with `message` for 20-keep.yaml, before any request; keep00 is still live."""
    apply = ("apply", str(directory), "--yes", "--allow", "delete:keep00")
    for args in (("plan", str(directory)), apply):
        result = pgsync(server, *args)
        assert result.exit_code == 1, result.output
        where = f"{directory}/20-keep.yaml:1:1"
        assert result.stderr == f"{where}: error: {message}\nerror: 1 problem found\n"
        assert server.requests == []
    assert server.group("acme", "keep00") is not None


def test_dangling_link_in_a_directory_is_an_error_and_prunes_nothing(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    (directory / "20-keep.yaml").symlink_to(tmp_path / "moved-away.yaml")
    message = "cannot read: a symbolic link to a file that does not exist"
    assert_plan_and_apply_refuse(live_keep, directory, message)


def test_link_loop_in_a_directory_is_an_error_and_prunes_nothing(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    (directory / "20-keep.yaml").symlink_to(tmp_path / "loop.yaml")
    (tmp_path / "loop.yaml").symlink_to(directory / "20-keep.yaml")
    message = "cannot read: Too many levels of symbolic links"
    assert_plan_and_apply_refuse(live_keep, directory, message)


def test_fifo_in_a_directory_is_refused_without_waiting_for_a_writer(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    os.mkfifo(directory / "20-keep.yaml")
    message = "cannot read: not a regular file (a FIFO)"
    assert_plan_and_apply_refuse(live_keep, directory, message)


def test_link_to_a_device_in_a_directory_is_refused_before_reading(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    (directory / "20-keep.yaml").symlink_to("/dev/zero")
    message = "cannot read: not a regular file (a character device)"
    assert_plan_and_apply_refuse(live_keep, directory, message)


def apply_without_override(
    server: EmulatorServer, directory: Path
) -> subprocess.CompletedProcess[str]:
    """`apply --yes` of `directory` with a delete allowed, in a process that cannot bypass
    file permissions (as root would)."""
    command = [sys.executable, "-m", "pgsync", "apply", str(directory), "--yes"]
    command += ["--allow", "delete:keep00", "--api-url", server.url]
    prefix = without_file_permission_override()
    return subprocess.run(prefix + command, capture_output=True, text=True, check=False)


def test_unreadable_file_in_a_directory_is_an_error_and_prunes_nothing(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    keep = directory / "20-keep.yaml"
    keep.write_text(json.dumps(KEEP), encoding="utf-8")
    keep.chmod(0)
    done = apply_without_override(live_keep, directory)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"{keep}:1:1: error: cannot read: Permission denied\nerror: 1 problem found\n"
    )
    assert live_keep.requests == []
    assert live_keep.group("acme", "keep00") is not None


def test_a_group_in_a_sub_directory_is_declared_and_so_not_pruned(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    (directory / "team").mkdir()
    (directory / "team" / "20-keep.yaml").write_text(json.dumps(KEEP), encoding="utf-8")
    result = pgsync(live_keep, "apply", str(directory), "--yes")
    assert result.exit_code == 0, result.output
    assert live_keep.writes() == []
    assert live_keep.group("acme", "keep00") is not None


def test_unreadable_sub_directory_is_an_error_and_prunes_nothing(
    live_keep: EmulatorServer, tmp_path: Path
) -> None:
    directory = pruning_directory(tmp_path)
    team = directory / "team"
    team.mkdir()
    (team / "20-keep.yaml").write_text(json.dumps(KEEP), encoding="utf-8")
    team.chmod(0)
    done = apply_without_override(live_keep, directory)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"{team}:1:1: error: cannot read: Permission denied\nerror: 1 problem found\n"
    )
    assert live_keep.requests == []


def test_a_readable_link_in_a_directory_is_read(tmp_path: Path) -> None:
    directory = pruning_directory(tmp_path)
    (tmp_path / "keep.yaml").write_text(json.dumps(KEEP), encoding="utf-8")
    (directory / "20-keep.yaml").symlink_to(tmp_path / "keep.yaml")
    assert [g.name for g in load_desired([directory]).groups] == ["base00", "keep00"]


def test_device_given_as_a_path_is_refused_before_reading() -> None:
    message = "/dev/zero:1:1: cannot read: not a regular file (a character device)"
    assert only_problem("/dev/zero") == message


def test_device_as_input_exits_1_with_the_message_and_no_request(
    emulator: EmulatorServer,
) -> None:
    result = pgsync(emulator, "plan", "/dev/zero")
    assert result.exit_code == 1
    assert result.stderr.startswith("/dev/zero:1:1: error: cannot read: not a regular file")
    assert emulator.requests == []


def test_file_over_the_default_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as sparse:
        sparse.truncate(MAX_INPUT_BYTES + 1)
    assert only_problem(path) == (
        f"{path}:1:1: cannot read: 52,428,801 bytes, more than the limit of 52,428,800 bytes"
        f" ({LIMIT_ENV})"
    )


def test_file_at_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "groups.yaml"
    text = json.dumps(KEEP)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(LIMIT_ENV, str(len(text)))
    assert [g.name for g in load_desired([path]).groups] == ["keep00"]


def test_limit_is_set_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "groups.yaml"
    text = json.dumps(KEEP)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(LIMIT_ENV, str(len(text) - 1))
    assert only_problem(path) == (
        f"{path}:1:1: cannot read: {len(text)} bytes, more than the limit of {len(text) - 1}"
        f" bytes ({LIMIT_ENV})"
    )


@pytest.mark.parametrize("value", ["0", "-5", "50MB"])
def test_malformed_limit_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps(KEEP), encoding="utf-8")
    monkeypatch.setenv(LIMIT_ENV, value)
    with pytest.raises(PgsyncError, match=f"{LIMIT_ENV} must be a whole number of bytes"):
        load_desired([path])


def test_every_unreadable_file_of_a_directory_is_reported(tmp_path: Path) -> None:
    directory = pruning_directory(tmp_path)
    (directory / "20-keep.yaml").symlink_to(tmp_path / "nowhere.yaml")
    os.mkfifo(directory / "30-pipe.yml")
    with pytest.raises(ValidationFailed) as failed:
        load_desired([directory])
    assert [str(p.location) for p in failed.value.problems] == [
        f"{directory}/20-keep.yaml:1:1",
        f"{directory}/30-pipe.yml:1:1",
    ]


def test_saved_plan_that_is_a_device_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps(KEEP), encoding="utf-8")
    result = pgsync(emulator, "apply", str(path), "--yes", "--plan", "/dev/zero")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot read /dev/zero: not a regular file (a character device)\n"
    )
    assert emulator.requests == []
