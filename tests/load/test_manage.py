"""`manage:` in the file: which lists are additive; every list authoritative unless it says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgsync.core.errors import ValidationFailed
from pgsync.load.desired import load_desired


def loaded_group(tmp_path: Path, extra: str) -> frozenset[str]:
    path = tmp_path / "groups.yaml"
    path.write_text(
        "organization: acme\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n" + extra,
        encoding="utf-8",
    )
    (group,) = load_desired([path]).groups
    return frozenset(group.additive)


def test_lists_are_authoritative_when_manage_is_omitted(tmp_path: Path) -> None:
    assert loaded_group(tmp_path, "") == frozenset()


def test_manage_names_the_additive_lists(tmp_path: Path) -> None:
    extra = "    manage: {stacks: additive, accounts: authoritative, policyPacks: additive}\n"
    assert loaded_group(tmp_path, extra) == {"stacks", "policyPacks"}


def test_an_unknown_manage_mode_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as raised:
        loaded_group(tmp_path, "    manage: {stacks: append}\n")
    (problem,) = raised.value.problems
    assert (problem.location.line, "additive" in problem.message) == (5, True)


def test_manage_of_an_unknown_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as raised:
        loaded_group(tmp_path, "    manage: {stackMatch: additive}\n")
    (problem,) = raised.value.problems
    assert "unknown key 'stackMatch'" in problem.message
