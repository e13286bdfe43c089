"""core.escaping: every invisible character escaped, whatever text it is in."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pgsync.core.escaping import escape, escape_char, escape_lines, is_invisible, shown_json


def one_by_one(text: str, keep: str = "") -> str:
    """The definition: each character judged by the Unicode database."""
    return "".join(escape_char(c) if is_invisible(c) and c not in keep else c for c in text)


def test_bidi_controls_and_separators_beyond_ascii_are_escaped() -> None:
    assert escape("a\u202eb\u2066c\u2028d\ufeffe") == "a\\u202eb\\u2066c\\u2028d\\ufeffe"


def test_visible_text_beyond_ascii_is_kept() -> None:
    assert escape("→ ✓ naïve 日本 🙂") == "→ ✓ naïve 日本 🙂"


def test_c1_controls_and_lone_surrogates_are_escaped() -> None:
    assert escape("x\x85y\ud800z") == "x\\x85y\\ud800z"


def test_a_tag_character_in_plane_14_is_escaped() -> None:
    assert escape("flag\U000e0041") == "flag\\U000e0041"


@given(st.text())
def test_escape_is_each_character_judged_alone(text: str) -> None:
    assert escape(text) == one_by_one(text)


@given(st.text())
def test_escape_lines_keeps_line_breaks_and_escapes_the_rest(text: str) -> None:
    assert escape_lines(text) == one_by_one(text, keep="\n")


@given(st.text())
def test_shown_json_stays_the_same_json(text: str) -> None:
    document = json.dumps({"value": text}, ensure_ascii=False)
    assert json.loads(shown_json(document)) == {"value": text}
