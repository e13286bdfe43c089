"""drift --base reads a directory at the ref as the loader reads it now: sub-directories too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_a_live_change_to_a_group_in_a_sub_directory_is_classified_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q")
    team = tmp_path / "policygroups" / "team"
    team.mkdir(parents=True)
    doc = {"organization": "acme", "policyGroups": [{"name": "a", "stacks": ["web/prod"]}]}
    (team / "a.yaml").write_text(json.dumps(doc), encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    monkeypatch.chdir(tmp_path)
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "a", "stacks": ["web/prod"]}]))) as s:
        s.mutate("acme", "a", {"addStack": {"name": "dev", "routingProject": "web"}})
        result = CliRunner().invoke(
            cli, ["drift", "policygroups", "--base", "HEAD", "--api-url", s.url]
        )
    assert result.exit_code == 2, result.output
    assert "  a: changed live outside Git" in result.output
