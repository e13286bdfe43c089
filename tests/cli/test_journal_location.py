"""Where the apply journal lives: outside the working tree unless --journal or PGSYNC_JOURNAL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clirun import THREE_GROUPS, write
from pgsync.apply.journal import read_events
from pgsync.cli.main import cli
from pgsync.cli.workflow import default_journal
from pgsync.emulator import EmulatorServer


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the files, with no journal chosen."""
    monkeypatch.delenv("PGSYNC_JOURNAL")
    directory = tmp_path / "checkout"
    directory.mkdir()
    monkeypatch.chdir(directory)
    write(directory, THREE_GROUPS)
    return directory


def apply(server: EmulatorServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["apply", "groups.yaml", "--yes", *args, "--api-url", server.url], env=env
    )


def journals(directory: Path) -> list[Path]:
    return sorted((directory / "pgsync").glob("journal-acme-*.jsonl"))


def test_apply_leaves_nothing_in_the_working_directory(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert apply(emulator).exit_code == 0
    assert [p.name for p in checkout.iterdir()] == ["groups.yaml"]


def test_the_default_journal_is_in_the_xdg_state_directory(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert apply(emulator).exit_code == 0
    (journal,) = journals(tmp_path / "state")
    assert read_events(journal)[0]["event"] == "start"


def test_without_xdg_state_home_the_journal_is_under_local_state_in_home(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert apply(emulator).exit_code == 0
    assert len(journals(tmp_path / "home" / ".local" / "state")) == 1


def test_in_github_actions_the_journal_is_in_the_runner_temp_directory(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    env = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path / "runner")}
    assert apply(emulator, env=env).exit_code == 0
    assert len(journals(tmp_path / "runner")) == 1
    assert not (tmp_path / "state").exists()


def test_a_relative_xdg_state_home_is_ignored(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": "state", "HOME": str(tmp_path)}
    journal = default_journal("acme", env, tmp_path)
    assert journal.parent == tmp_path / ".local" / "state" / "pgsync"


def test_two_working_directories_have_two_journals(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    first = default_journal("acme", env, tmp_path / "one")
    assert first != default_journal("acme", env, tmp_path / "two")


def test_two_organizations_have_two_journals(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert default_journal("acme", env, tmp_path) != default_journal("globex", env, tmp_path)


def test_an_organization_name_is_made_a_tidy_file_name(tmp_path: Path) -> None:
    journal = default_journal("ac:me*", {"XDG_STATE_HOME": str(tmp_path)}, tmp_path)
    assert journal.name.startswith("journal-ac_me_-")


def test_journal_flag_chooses_the_journal_and_creates_its_directory(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path
) -> None:
    chosen = tmp_path / "logs" / "apply" / "run.jsonl"
    assert apply(emulator, "--journal", str(chosen)).exit_code == 0
    assert read_events(chosen)[0]["event"] == "start"


def test_resume_without_a_journal_says_the_last_run_wrote_nothing_and_applies(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "never-written.jsonl"
    result = apply(emulator, "--journal", str(missing), "--resume")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"no journal at {missing}: no apply run wrote anything with it (a run creates its"
        " journal before its first write), so there is nothing to resume\n\n"
    )
    assert emulator.group("acme", "production") is not None


def test_resume_without_file_reports_the_last_run_of_the_default_journal(
    emulator: EmulatorServer, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    emulator.inject_fault(method="POST", path="/policygroups$", status=400)
    assert apply(emulator, "--parallelism", "1").exit_code == 1
    result = apply(emulator, "--resume")
    assert result.exit_code == 0, result.output
    assert "for organization 'acme' stopped at a failure" in result.output.splitlines()[0]
