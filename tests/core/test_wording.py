"""Counts are shown with their nouns in the singular for one, the plural otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pgsync.cli.main import cli
from pgsync.core.wording import counted


def test_one_takes_the_singular() -> None:
    assert counted(1, "write request") == "1 write request"


def test_zero_and_many_take_the_plural() -> None:
    assert (counted(0, "group"), counted(2, "group")) == ("0 groups", "2 groups")


def test_an_irregular_plural_is_given() -> None:
    assert counted(3, "policy", "policies") == "3 policies"


def test_validate_of_one_group_in_one_file_says_so_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": [{"name": "a"}]}))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == "valid: 1 group for organization 'acme' in 1 file\n"
