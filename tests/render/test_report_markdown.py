"""The Markdown coverage report: counts first, tables cut for large orgs (saying so), names as
literal code that no table cell splits."""

from __future__ import annotations

import dataclasses
import datetime
import re

import cmarkgfm  # type: ignore[import-untyped]

from builders import applied, live, live_group, stacks, state
from conftest import Golden
from pgsync.render.report_markdown import (
    GROUP_ROWS,
    LISTED_STACKS,
    MATRIX_ROWS,
    code,
    render_report_markdown,
)
from report_samples import HOSTILE_PACK, HOSTILE_STACK, hostile, large, report_of, sample

NOON = datetime.datetime(2027, 1, 1, 12, 0, tzinfo=datetime.UTC)


def matrix_rows(text: str) -> list[str]:
    section = text.split("## Stacks and packs", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_sample_report(golden: Golden) -> None:
    golden.check("report-sample.md", render_report_markdown(sample(), NOON))


def test_counts_come_before_the_tables() -> None:
    text = render_report_markdown(sample())
    assert text.index("| All known |") < text.index("## Stacks and packs")
    assert "**The service's coverage counts (live):** 3/4 stacks protected" in text


def test_a_large_matrix_is_cut_with_the_changed_stacks_first_and_says_so() -> None:
    text = render_report_markdown(large(MATRIX_ROWS + 50, 30))
    rows = matrix_rows(text)
    assert len(rows) == MATRIX_ROWS
    assert all("changes" in row for row in rows[:30])
    assert "changes" not in rows[30]
    assert f"The first {MATRIX_ROWS} of {MATRIX_ROWS + 50} stacks" in text


def test_a_small_matrix_is_whole() -> None:
    text = render_report_markdown(large(10, 3))
    assert len(matrix_rows(text)) == 10
    assert "The first" not in text


def test_long_lists_of_stacks_are_cut_and_say_how_many_more() -> None:
    text = render_report_markdown(large(LISTED_STACKS + 7, 1))
    assert f"**Live ({LISTED_STACKS + 7}):**" in text
    assert ", and 7 more (the HTML and JSON reports" in text
    assert ", and 6 more (the HTML and JSON reports" in text


def test_names_are_code_spans_and_a_pipe_in_one_never_splits_a_table_cell() -> None:
    text = render_report_markdown(hostile())
    row = matrix_rows(text)[0]
    # The stack, the pack's cell, groups, audited by, status: six separators, no more.
    assert len(re.findall(r"(?<!\\)\|", row)) == 6
    assert code(HOSTILE_STACK) == "``evil<em>\"&'|`/st\\u202eack``"
    assert code(HOSTILE_PACK) == "`` <i>pack</i>|` ``"


def test_githubs_parser_shows_hostile_names_as_text() -> None:
    shown = cmarkgfm.github_flavored_markdown_to_html(render_report_markdown(hostile()))
    matrix = shown.split("<table>")[2]
    cells = re.findall(r"<td>(.*?)</td>", matrix.split("<tbody>")[1].split("</tr>")[0])
    assert cells == [
        "<code>evil&lt;em&gt;&quot;&amp;'|`/st\\u202eack</code>",
        "M",
        "<code>&lt;script&gt;alert(&quot;g&quot;)&lt;/script&gt; &amp; `x` | y</code>",
        "",
        "",
    ]


def test_level_marks_are_never_emphasis() -> None:
    text = render_report_markdown(sample())
    assert "| `1.3.0 A*→1.3.0 ?` |" in text  # in a code span, where * is only a star


def test_groups_are_cut_with_the_changed_ones_first() -> None:
    report = large(3, 1)
    cards = tuple(
        dataclasses.replace(card, name=f"{card.name}-{i:03d}")
        for card in report.groups
        for i in range(GROUP_ROWS)
    )
    text = render_report_markdown(dataclasses.replace(report, groups=cards))
    listed = text.split("## Groups", 1)[1]
    assert f"The first {GROUP_ROWS} of {len(cards)} groups (changed ones first)" in listed
    assert listed.count("| create |") == GROUP_ROWS


def test_a_version_tag_is_never_a_mention_or_a_link() -> None:
    tag = "1 @org/security-team www.evil.example"
    tagged = dataclasses.replace(applied("aws", "1.0.0", "mandatory"), version_tag=tag)
    newer = applied("aws", "1.3.0", "advisory")
    two = live(
        live_group("prod", stacks=stacks("web/prod"), packs=(tagged,)),
        live_group("dev", stacks=stacks("web/dev"), packs=(newer,)),
    )
    markdown = render_report_markdown(report_of(state(), two))
    shown = cmarkgfm.github_flavored_markdown_to_html(markdown)
    assert "<code>1 @org/security-team www.evil.example M</code>" in shown
    assert "<a " not in shown
