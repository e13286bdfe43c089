"""load_yaml(): YAML to plain values with positions; every input flaw becomes a Problem."""

from __future__ import annotations

import gc
import json
import sys
from types import FrameType
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsync.core.errors import InputError, Location
from pgsync.load import yamlparse
from pgsync.load.yamlnodes import Document, load_yaml


def load(text: str | bytes) -> Document:
    return load_yaml(text.encode() if isinstance(text, str) else text, "f.yaml")


def fatal(text: str | bytes) -> str:
    with pytest.raises(InputError) as caught:
        load(text)
    return str(caught.value.problem)


def problems(text: str) -> list[str]:
    return [str(problem) for problem in load(text).problems]


def test_values_are_plain_json_kinds() -> None:
    doc = load("s: text\ni: 12\nf: 1.5\nb: true\nn: null\nl: [a, 1]\nm: {k: v}\n")
    assert doc.value == {
        "s": "text",
        "i": 12,
        "f": 1.5,
        "b": True,
        "n": None,
        "l": ["a", 1],
        "m": {"k": "v"},
    }
    assert doc.problems == ()


def test_unquoted_date_stays_text() -> None:
    assert load("tag: 2024-01-01\nat: 2024-01-01 10:00:00\n").value == {
        "tag": "2024-01-01",
        "at": "2024-01-01 10:00:00",
    }


@pytest.mark.parametrize("text", ["true", "True", "TRUE", "false", "False", "FALSE"])
def test_only_yaml_1_2_spellings_of_true_and_false_are_booleans(text: str) -> None:
    assert load(f"a: {text}\n").value == {"a": text.lower() == "true"}


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF"])
def test_yaml_1_1_booleans_are_strings(text: str) -> None:
    assert load(f"a: {text}\n").value == {"a": text}


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        ("-7", -7),
        ("+3", 3),
        ("017", 17),
        ("0o17", 15),
        ("0x1F", 31),
        ("2.5", 2.5),
        (".5", 0.5),
        ("-1.5e-3", -0.0015),
        ("1e3", 1000),
    ],
)
def test_numbers_are_read_by_the_yaml_1_2_core_schema(text: str, number: float) -> None:
    assert load(f"a: {text}\n").value == {"a": number}


@pytest.mark.parametrize("text", ["1_000", "1:20", "0b101", "1_0.5", "0o8", "2024-01-01"])
def test_yaml_1_1_only_numbers_are_strings(text: str) -> None:
    assert load(f"a: {text}\n").value == {"a": text}


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_null_spellings(text: str) -> None:
    assert load(f"a: {text}\n").value == {"a": None}


@pytest.mark.parametrize(
    ("text", "tag"),
    [("!!bool yes", "!!bool"), ("!!int 1_000", "!!int"), ("!!float 1:20", "!!float")],
)
def test_explicit_tag_takes_only_the_yaml_1_2_forms(text: str, tag: str) -> None:
    assert problems(f"a: {text}\n") == [f"f.yaml:1:4: not a valid {tag}"]


def test_explicit_tag_reads_its_yaml_1_2_form() -> None:
    assert load("a: !!float 12\nb: !!int '0x1F'\nc: !!bool 'True'\n").value == {
        "a": 12,
        "b": 31,
        "c": True,
    }


def test_numbers_and_booleans_keep_their_text_as_written() -> None:
    doc = load("a: 2.10\nb: [1.0, TRUE, '2.0', 7]\nc: x\nd: null\n")
    assert doc.written == {("a",): "2.10", ("b", 0): "1.0", ("b", 1): "TRUE", ("b", 3): "7"}


def test_infinity_is_refused_at_its_position() -> None:
    assert problems("a:\n  b: .inf\n") == [
        "f.yaml:2:6: number not allowed: infinity and NaN are not valid JSON"
    ]


def test_nan_is_refused() -> None:
    assert problems("a: .nan\n") == [
        "f.yaml:1:4: number not allowed: infinity and NaN are not valid JSON"
    ]


def test_integer_beyond_2_to_the_53_is_refused() -> None:
    assert problems("a: 123456789012345678901234567890\n") == [
        "f.yaml:1:4: number not allowed: integers beyond ±2^53 lose precision in JSON"
    ]


def test_integral_float_is_read_as_an_integer() -> None:
    value = load("a: 100.0\n").value
    assert value == {"a": 100}
    assert isinstance(value["a"], int)


def test_keys_are_kept_as_written() -> None:
    assert load("1: a\non: b\nnull: c\n").value == {"1": "a", "on": "b", "null": "c"}


def test_positions_are_one_based_for_values_and_keys() -> None:
    doc = load("groups:\n  - name: prod\n    stacks: [a/b, c/d]\n")
    assert doc.at(("groups", 0, "name")) == Location("f.yaml", 2, 11)
    assert doc.key_at(("groups", 0, "name")) == Location("f.yaml", 2, 5)
    assert doc.at(("groups", 0, "stacks", 1)) == Location("f.yaml", 3, 19)
    assert doc.at(("groups", 0)) == Location("f.yaml", 2, 5)


def test_unknown_path_falls_back_to_nearest_ancestor() -> None:
    doc = load("a:\n  b: 1\n")
    assert doc.at(("a", "missing", 3)) == Location("f.yaml", 2, 3)
    assert doc.key_at(("a", "missing")) == Location("f.yaml", 2, 3)


def test_duplicate_key_points_at_the_second_key() -> None:
    doc = load("a: 1\nb: 2\na: 3\n")
    assert [str(p) for p in doc.problems] == [
        "f.yaml:3:1: duplicate key 'a' (first at line 1, column 1)"
    ]
    assert doc.value == {"a": 1, "b": 2}


def test_aliases_are_expanded_with_positions_of_the_anchor() -> None:
    doc = load("a: &x [1, 2]\nb: *x\n")
    assert doc.value == {"a": [1, 2], "b": [1, 2]}
    assert doc.at(("b", 1)) == Location("f.yaml", 1, 11)


def test_merge_key_yields_to_explicit_keys() -> None:
    doc = load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert doc.value["m"] == {"x": 1, "y": 3}
    assert doc.at(("m", "y")) == Location("f.yaml", 4, 6)
    assert doc.problems == ()


def test_merge_list_earlier_sources_win() -> None:
    doc = load("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nm:\n  <<: [*a, *b]\n")
    assert doc.value["m"] == {"k": 1, "j": 2}


def test_aliased_mapping_with_merge_is_flattened_once() -> None:
    doc = load("a: &a {k: 1}\nb: &b {<<: *a, k: 2}\nc: [*b, *b]\n")
    assert doc.value["c"] == [{"k": 2}, {"k": 2}]
    assert doc.problems == ()


def test_merging_a_scalar_is_a_problem() -> None:
    assert problems("m:\n  <<: 5\n") == [
        "f.yaml:2:7: '<<' can merge only a mapping or a list of mappings"
    ]


def test_alias_bomb_is_refused_without_expanding() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for number in range(1, 12):
        before, name = chr(ord("a") + number - 1), chr(ord("a") + number)
        levels.append(f"{name}: &{name} [{', '.join([f'*{before}'] * 10)}]")
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    # Work counted in Python calls, not seconds: measuring the graph takes a few hundred (some
    # ten thousand without libyaml), expanding it even to the limit would take millions.
    sys.setprofile(count)
    try:
        message = fatal("\n".join(levels) + "\n")
    finally:
        sys.setprofile(None)
    assert calls < 100_000
    assert message == "f.yaml:7:4: aliases expand this to more than 5,000,000 values"


def test_recursive_alias_is_refused() -> None:
    assert fatal("a: &a [1, *a]\n") == "f.yaml:1:4: this collection contains an alias to itself"


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!binary aGk=\n", "!!binary"),
        ("a: !!set {x}\n", "!!set"),
        ("a: !!omap [x: 1]\n", "!!omap"),
        ("a: !!python/tuple [1]\n", "!!python/tuple"),
        ("a: !custom x\n", "!custom"),
    ],
)
def test_tags_beyond_json_are_problems(text: str, tag: str) -> None:
    assert problems(text) == [
        f"f.yaml:1:4: unsupported YAML tag {tag} (only strings, numbers, true/false, null,"
        " lists and mappings are allowed)"
    ]


def test_invalid_explicit_int_is_a_problem() -> None:
    assert problems("a: !!int twelve\n") == ["f.yaml:1:4: not a valid !!int"]


def test_mapping_as_key_is_a_problem() -> None:
    assert problems("? [a]\n: 1\n") == [
        "f.yaml:1:3: a mapping key must be a plain value, not a list or mapping"
    ]


def test_non_utf8_byte_is_located() -> None:
    assert fatal(b"a: 1\nb: caf\xe9\n") == "f.yaml:2:7: not valid UTF-8 (byte 0xe9)"


def test_control_character_is_located() -> None:
    assert fatal("a: 1\nb: x\x07\n") == "f.yaml:2:5: character U+0007 is not allowed in YAML"


def test_utf8_byte_order_mark_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n").value == {"a": 1}


def test_tab_indentation_is_named() -> None:
    assert fatal("a:\n\tb: 1\n") == (
        "f.yaml:2:1: invalid YAML: a tab character here (YAML indents with spaces only)"
    )


def test_syntax_error_points_at_the_problem() -> None:
    assert fatal("a: [1, 2\nb: 3\n") == (
        "f.yaml:2:2: invalid YAML: while parsing a flow sequence (line 1, column 4),"
        " did not find expected ',' or ']'"
    )


def test_second_document_is_an_error() -> None:
    assert fatal("a: 1\n---\nb: 2\n") == (
        "f.yaml:2:1: invalid YAML: expected a single document in the stream"
        " (line 1, column 1), but found another document"
    )


def test_empty_stream_has_no_value() -> None:
    assert load("# only a comment\n").value is None


def test_nesting_beyond_the_limit_is_refused() -> None:
    depth = yamlparse.MAX_DEPTH + 5
    assert fatal("[" * depth + "]" * depth) == (
        f"f.yaml:1:{yamlparse.MAX_DEPTH + 1}: nested deeper than {yamlparse.MAX_DEPTH} levels"
    )


@pytest.mark.parametrize("loader", [yamlparse.PURE_LOADER, yamlparse.LOADER])
@pytest.mark.parametrize("depth", [1_001, 5_000])
def test_nesting_beyond_the_parsers_own_limit_is_refused_at_the_first_deep_collection(
    monkeypatch: pytest.MonkeyPatch, loader: Any, depth: int
) -> None:
    # libyaml stops at 1,000 levels (PyYAML 6.0.4) and the Python composer at the recursion
    # limit; the first problem must not depend on which parser is installed.
    monkeypatch.setattr(yamlparse, "LOADER", loader)
    assert fatal("k: " + "[" * depth + "]" * depth) == (
        f"f.yaml:1:{yamlparse.MAX_DEPTH + 3}: nested deeper than {yamlparse.MAX_DEPTH} levels"
    )


def test_long_chain_of_merged_anchors_is_refused_not_a_crash() -> None:
    # Each anchor sits under a repeated key, so the walk skips it and must not recurse.
    lines = ["k: &a0 {v: 1}"] + [f"k: &a{i} {{<<: *a{i - 1}}}" for i in range(1, 1500)]
    assert fatal("\n".join([*lines, "use: {<<: *a1499}"])) == (
        f"f.yaml:100:4: nested deeper than {yamlparse.MAX_DEPTH} levels"
    )


def test_collection_is_left_enabled_after_loading() -> None:
    assert gc.isenabled()
    load("a: [1]\n")
    with pytest.raises(InputError):
        load("a: [1\n")
    assert gc.isenabled()


def test_loader_is_libyamls_when_pyyaml_has_it() -> None:
    assert issubclass(yamlparse.LOADER, getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_pure_python_parser_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: &x {k: [1, 2024-01-01, 0o17, 1_000]}\nb:\n  <<: *x\n  j: yes\n  t: True\n"
    fast = load(text)
    monkeypatch.setattr(yamlparse, "LOADER", yamlparse.PURE_LOADER)
    slow = load(text)
    assert (slow.value, slow.values, slow.keys, slow.written) == (
        fast.value,
        fast.values,
        fast.keys,
        fast.written,
    )


# Plain scalars made of the characters that decide how YAML resolves them.
plain_scalars = st.text(st.sampled_from("0123456789abcefnoxyONTEF.+-_:~<"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(plain_scalars)
def test_both_parsers_resolve_any_plain_scalar_alike(text: str) -> None:
    def outcome(loader: Any) -> object:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(yamlparse, "LOADER", loader)
            try:
                doc = load(f"a: {text}\n")
            except InputError as err:
                # libyaml and PyYAML word syntax errors differently: only where must agree.
                return err.problem.location
        return doc.value, doc.problems, doc.written

    assert outcome(yamlparse.PURE_LOADER) == outcome(yamlparse.LOADER)


# No controls or line separators: JSON writes them raw, and a YAML stream may not hold them.
_STREAM_TEXT = st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_STREAM_TEXT, max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(_STREAM_TEXT, max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_json_text_reads_as_the_same_value(value: Any) -> None:
    # YAML 1.2 is a superset of JSON (text kept to what a YAML stream may hold unescaped).
    assert load(json.dumps(value, ensure_ascii=False)).value == value
