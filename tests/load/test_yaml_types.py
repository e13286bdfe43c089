"""YAML 1.2 in desired-state files: what is a boolean, a number or a string, and messages that
say how to write what was meant, at the value's file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgsync.core.errors import ValidationFailed
from pgsync.load.desired import load_desired
from pgsync.load.schema import check


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "g.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_desired([path])
    return [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]


def with_pack(version_tag: str, extra: str = "") -> str:
    return (
        "organization: acme\npolicyGroups:\n  - name: g\n    policyPacks:\n"
        f"      - name: aws\n        versionTag: {version_tag}\n{extra}"
    )


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_prune_written_as_a_yaml_1_1_boolean_says_to_write_true_or_false(
    tmp_path: Path, word: str
) -> None:
    assert problems(tmp_path, f"organization: acme\nprune: {word}\npolicyGroups: []\n") == [
        f'2:8: expected true or false, got the string "{word}"; write true or false'
    ]


@pytest.mark.parametrize("word", ["true", "True", "TRUE", "false", "False", "FALSE"])
def test_prune_takes_each_yaml_1_2_spelling_of_true_and_false(tmp_path: Path, word: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(f"organization: acme\nprune: {word}\npolicyGroups: []\n", encoding="utf-8")
    assert load_desired([path]).prune is (word.lower() == "true")


def test_a_quoted_true_says_to_drop_the_quotes(tmp_path: Path) -> None:
    assert problems(tmp_path, "organization: acme\nprune: 'true'\npolicyGroups: []\n") == [
        '2:8: expected true or false, got the string "true"; write it without quotes'
    ]


def test_exists_written_as_on_says_to_write_true_or_false(tmp_path: Path) -> None:
    text = "organization: acme\npolicyGroups:\n  - name: g\n    stackMatch:\n"
    assert problems(tmp_path, text + "      - env: {exists: on}\n") == [
        '5:23: expected true or false, got the string "on"; write true or false'
    ]


@pytest.mark.parametrize("written", ["2.0", "2.10", "017", "1e3", "0x1F", "7"])
def test_version_tag_written_as_a_number_says_to_quote_it_as_written(
    tmp_path: Path, written: str
) -> None:
    assert problems(tmp_path, with_pack(written)) == [
        f'6:21: expected a string, got the number {written}; quote it: "{written}"'
    ]


def test_version_tag_written_as_a_boolean_says_to_quote_it(tmp_path: Path) -> None:
    assert problems(tmp_path, with_pack("True")) == [
        '6:21: expected a string, got the boolean True; quote it: "True"'
    ]


def test_quoted_version_tag_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(with_pack('"2.10"'), encoding="utf-8")
    (pack,) = load_desired([path]).groups[0].packs or ()
    assert pack.version_tag == "2.10"


def test_group_name_written_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    text = "organization: acme\npolicyGroups:\n  - name: 123\n"
    assert problems(tmp_path, text) == [
        '3:11: expected a string, got the number 123; quote it: "123"'
    ]


def test_a_number_in_a_bulk_list_is_quoted_from_its_own_place_in_the_file(tmp_path: Path) -> None:
    text = "organization: acme\npolicyGroups:\n  - name: g\n    stacks: [a/b, prod/2024, 2024.10]\n"
    assert problems(tmp_path, text) == [
        '4:30: expected a string or a mapping, got the number 2024.10; quote it: "2024.10"'
    ]


def test_environment_written_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    extra = "        environments: [prod, 2.0]\n"
    assert problems(tmp_path, with_pack("'1'", extra)) == [
        '7:30: expected a string, got the number 2.0; quote it: "2.0"'
    ]


def test_a_match_rule_value_written_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    text = "organization: acme\npolicyGroups:\n  - name: g\n    stackMatch:\n"
    assert problems(tmp_path, text + "      - version: 1.10\n") == [
        '5:18: expected a string or a mapping, got the number 1.10; quote it: "1.10"'
    ]


def test_a_pack_config_value_is_never_quoted_in_a_message() -> None:
    path = ("policyGroups", 0, "policyPacks", 0, "config", "p")
    document = {
        "organization": "acme",
        "policyGroups": [
            {"name": "g", "policyPacks": [{"name": "aws", "versionTag": "1", "config": {"p": 5}}]}
        ],
    }
    assert [p.message for p in check(document, written={path: "5"})] == [
        "expected a string or a mapping, got an integer"
    ]


@pytest.mark.parametrize("word", ["yes", "on", "n"])
def test_a_yaml_1_1_boolean_in_pack_config_is_the_string_sent(tmp_path: Path, word: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(with_pack("'1'", f"        config:\n          p: {{flag: {word}}}\n"))
    (pack,) = load_desired([path]).groups[0].packs or ()
    assert pack.config_json == f'{{"p":{{"flag":"{word}"}}}}'
