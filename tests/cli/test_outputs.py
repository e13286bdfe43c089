"""Files pgsync writes: a fresh temporary file beside a regular target, never through a trap."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clirun import THREE_GROUPS, write
from permissions import without_file_permission_override
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer
from pgsync.emulator.fixture import demo_fixture
from pgsync.emulator.statefile import write_state_file
from pgsync.files import RefusedFile, StagedFile, open_append, replace_file

PLAN_START = '{\n  "formatVersion": 1,'


def pgsync(server: EmulatorServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url], env=env)


def plan_to(server: EmulatorServer, tmp_path: Path, out: Path | str) -> Result:
    return pgsync(server, "plan", write(tmp_path, THREE_GROUPS), "--out", str(out))


def test_plan_out_onto_a_fifo_is_refused_and_the_fifo_stays(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    result = plan_to(emulator, tmp_path, fifo)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {fifo}: not a regular file (a FIFO); give --out another path\n"
    )
    assert emulator.requests == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.yaml", "plan.json"]


def test_plan_out_through_a_link_to_a_device_is_refused_and_the_link_stays(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    link = tmp_path / "plan.json"
    link.symlink_to("/dev/null")
    result = plan_to(emulator, tmp_path, link)
    assert result.exit_code == 1
    message = "a symbolic link to a file outside its directory; give --out another path"
    assert result.stderr == f"error: cannot write {link}: {message}\n"
    assert os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_directory_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(RefusedFile, match=r"^\[Errno 22\] not a regular file \(a directory\)$"):
        replace_file(tmp_path / "out", "text\n")
    assert (tmp_path / "out").is_dir()


def test_plan_out_through_a_link_beside_it_writes_the_file_it_names(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "plan-v1.json").write_text("old\n")
    (tmp_path / "plan.json").symlink_to("plan-v1.json")
    assert plan_to(emulator, tmp_path, tmp_path / "plan.json").exit_code == 0
    assert os.readlink(tmp_path / "plan.json") == "plan-v1.json"
    assert (tmp_path / "plan-v1.json").read_text().startswith(PLAN_START)


def test_a_planted_temporary_link_is_not_followed(emulator: EmulatorServer, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / ".plan.json.tmp").symlink_to(victim)
    assert plan_to(emulator, tmp_path, tmp_path / "plan.json").exit_code == 0
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "plan.json").read_text().startswith(PLAN_START)


def test_replacing_a_file_keeps_its_mode(emulator: EmulatorServer, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("old\n")
    out.chmod(0o600)
    assert plan_to(emulator, tmp_path, out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith(PLAN_START)


def test_a_new_file_gets_the_mode_the_umask_allows(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        replace_file(tmp_path / "new.txt", "text\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_a_new_file_gets_the_mode_asked_for_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        replace_file(tmp_path / "new.txt", "text\n", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o600


def test_a_replaced_file_keeps_its_mode_whatever_mode_is_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    out.chmod(0o640)
    replace_file(out, "new\n", mode=0o600)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_the_emulators_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_state_file(tmp_path / "state.json", demo_fixture().new_state())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_no_temporary_file_is_left_after_a_write(emulator: EmulatorServer, tmp_path: Path) -> None:
    assert plan_to(emulator, tmp_path, tmp_path / "plan.json").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.yaml", "plan.json"]


def test_an_uncommitted_staged_file_is_removed_and_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("old\n")
    with StagedFile(target, "new\n") as staged:
        assert staged.path.parent == tmp_path
        assert staged.path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]
    assert target.read_text() == "old\n"


def test_two_staged_files_for_one_target_do_not_collide(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    with StagedFile(target, "one\n") as first, StagedFile(target, "two\n") as second:
        assert first.path != second.path
        second.commit()
        first.commit()
    assert target.read_text() == "one\n"


def test_plan_out_dash_prints_the_json_plan_alone_on_stdout(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = plan_to(emulator, tmp_path, "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["create"] == 3
    assert result.stderr.startswith('pgsync plan for organization "acme"')
    assert not (tmp_path / "-").exists()


def test_plan_out_dash_with_json_format_prints_the_plan_once(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = pgsync(
        emulator, "plan", write(tmp_path, THREE_GROUPS), "--format", "json", "--out", "-"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["create"] == 3
    assert not (tmp_path / "-").exists()


def test_import_out_dash_prints_the_file_on_stdout(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = pgsync(emulator, "import", "--org", "acme", "--out", "-")
    assert result.exit_code == 0, result.output
    assert "organization: acme\n" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_import_out_onto_a_fifo_is_refused_before_anything_is_written(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    fifo = tmp_path / "groups.yaml"
    os.mkfifo(fifo)
    result = pgsync(emulator, "import", "--org", "acme", "--out", str(fifo))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {fifo}: not a regular file (a FIFO); give --out another path\n"
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.yaml"]


def test_journal_on_a_device_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = pgsync(
        emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes", "--journal", "/dev/null"
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot write /dev/null: not a regular file (a character device);"
        " give --journal another path\n"
    )
    assert emulator.requests == []


def test_journal_through_a_link_out_of_its_directory_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("precious\n")
    journal = tmp_path / "pgsync-journal.jsonl"
    journal.symlink_to(elsewhere / "victim.txt")
    path = write(tmp_path, THREE_GROUPS)
    result = pgsync(emulator, "apply", path, "--yes", "--journal", str(journal))
    assert result.exit_code == 1
    assert "a symbolic link to a file outside its directory" in result.stderr
    assert (elsewhere / "victim.txt").read_text() == "precious\n"
    assert emulator.writes() == []


def test_journal_cannot_be_stdout(emulator: EmulatorServer, tmp_path: Path) -> None:
    result = pgsync(emulator, "apply", write(tmp_path, THREE_GROUPS), "--yes", "--journal", "-")
    assert result.exit_code == 1
    assert result.stderr == "error: the journal must be a file, not stdout ('-')\n"
    assert emulator.writes() == []


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_github_files_that_are_not_regular_are_refused(
    emulator: EmulatorServer, tmp_path: Path, variable: str
) -> None:
    fifo = tmp_path / "runner-file"
    os.mkfifo(fifo)
    env = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path), variable: str(fifo)}
    result = pgsync(emulator, "plan", write(tmp_path, THREE_GROUPS), env=env)
    assert result.exit_code == 1
    assert result.stderr.endswith(": not a regular file (a FIFO)\n")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_appending_creates_a_missing_file_and_keeps_what_was_there(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    for line in ("one\n", "two\n"):
        with open_append(target) as stream:
            stream.write(line)
    assert target.read_text() == "one\ntwo\n"


# --- outputs checked, and their directories made, before any request -----------------------


def test_plan_out_in_missing_directories_creates_them_and_saves_the_plan(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "plans" / "pr-7" / "plan.json"
    assert plan_to(emulator, tmp_path, out).exit_code == 0
    assert out.read_text().startswith(PLAN_START)


def test_plan_out_under_a_file_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("")
    out = tmp_path / "notes.txt" / "plans" / "plan.json"
    result = plan_to(emulator, tmp_path, out)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {out}: {tmp_path / 'notes.txt'} is not a directory;"
        " give --out another path\n"
    )
    assert emulator.requests == []


def test_plan_out_naming_a_directory_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "plans").mkdir()
    result = plan_to(emulator, tmp_path, tmp_path / "plans")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {tmp_path / 'plans'}: it names a directory;"
        " give --out the path of a file in it\n"
    )
    assert emulator.requests == []


def test_plan_out_ending_in_a_slash_is_refused_and_creates_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = plan_to(emulator, tmp_path, f"{tmp_path}/plans/")
    assert result.exit_code == 1
    assert "it names a directory" in result.stderr
    assert not (tmp_path / "plans").exists()
    assert emulator.requests == []


def test_plan_out_onto_its_own_input_file_is_refused_and_the_file_kept(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = write(tmp_path, THREE_GROUPS)
    result = pgsync(emulator, "plan", path, "--out", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {path}: it is a desired-state file read by this command;"
        " give --out another path\n"
    )
    assert Path(path).read_text() == THREE_GROUPS
    assert emulator.requests == []


def test_plan_out_in_a_directory_without_write_permission_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "plan.json"
    command = [sys.executable, "-m", "pgsync", "plan", write(tmp_path, THREE_GROUPS)]
    command += ["--out", str(out), "--api-url", emulator.url]
    done = subprocess.run(
        without_file_permission_override() + command, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"error: cannot write {out}: Permission denied; give --out another path\n"
    )
    assert emulator.requests == []


def test_journal_under_a_file_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("")
    journal = tmp_path / "notes.txt" / "journal.jsonl"
    path = write(tmp_path, THREE_GROUPS)
    result = pgsync(emulator, "apply", path, "--yes", "--journal", str(journal))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {journal}: {tmp_path / 'notes.txt'} is not a directory;"
        " give --journal another path\n"
    )
    assert emulator.requests == []
