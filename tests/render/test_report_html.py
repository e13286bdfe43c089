"""The HTML coverage report: one self-contained page, complete without its script, escaped."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

import esprima

from builders import live, state
from conftest import Golden
from pgsync.core.coverage import CoverageReport
from pgsync.render.report_html import SCRIPT, render_report_html
from report_samples import (
    HOSTILE_GROUP,
    HOSTILE_PACK,
    HOSTILE_STACK,
    hostile,
    large,
    report_of,
    sample,
)

NOON = datetime.datetime(2027, 1, 1, 12, 0, tzinfo=datetime.UTC)


class Cells(HTMLParser):
    """The matrix as the browser builds it: each row's cells (end tags may be left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.stacks: list[str] = []
        self.in_matrix = False
        self.text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.in_matrix = found.get("id") == "matrix"
        elif self.in_matrix and tag == "tr":
            self._close()
            self.rows.append([])
            self.stacks.append(found.get("data-stack") or "")
        elif self.in_matrix and tag in ("td", "th"):
            self._close()
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr", "thead", "tbody", "table"):
            self._close()
        if tag == "table":
            self.in_matrix = False

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def _close(self) -> None:
        if self.text is not None and self.rows:
            self.rows[-1].append("".join(self.text).strip())
        self.text = None


def matrix(page: str) -> Cells:
    parsed = Cells()
    parsed.feed(page)
    return parsed


def test_the_sample_page(golden: Golden) -> None:
    golden.check("report-sample.html", render_report_html(sample(), NOON))


def test_the_page_fetches_nothing() -> None:
    page = render_report_html(sample())
    assert not re.search(r"""\b(src|href|action)\s*=""", page, re.I)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"@import|url\(|https?://", page, re.I)


def test_the_inline_script_is_valid_javascript() -> None:
    esprima.parseScript(SCRIPT)


def test_every_stack_is_a_row_of_the_server_rendered_matrix() -> None:
    report = large(120, 40)
    parsed = matrix(render_report_html(report))
    assert parsed.stacks[1:] == [str(r.stack) for r in report.stacks]
    header, *rows = parsed.rows
    assert header == ["Stack", "aws1.3.0", "cost2.0.0", "Groups", "Audited by", "Status"]
    assert all(len(row) == len(header) for row in rows)


def test_the_filter_box_is_hidden_until_the_script_shows_it() -> None:
    page = render_report_html(sample())
    assert "<p id=tools hidden>" in page
    assert 'document.getElementById("tools").hidden = false' in page


def test_levels_are_letters_and_changes_arrows_not_only_colours() -> None:
    parsed = matrix(render_report_html(sample()))
    by_stack = dict(zip(parsed.stacks[1:], parsed.rows[1:], strict=True))
    # Columns: stack, aws (two versions: each cell names its own), cost, groups, audit, status.
    assert by_stack["web/prod"][1] == "1.3.0 A*→1.3.0 ?"
    assert by_stack["pay/prod"][1] == "1.0.0 M"
    assert by_stack["web/dev"][1:3] == ["–→1.3.0 ?", "A→–"]
    assert by_stack["ml/dev"][1:] == ["", "A", "default-policy-group", "watch", "default only"]


def test_a_pack_at_one_version_names_it_in_its_header() -> None:
    parsed = matrix(render_report_html(large(3, 1)))
    assert parsed.rows[0][1:3] == ["aws1.3.0", "cost2.0.0"]
    assert parsed.rows[1][1:3] == ["–→M", "A→–"]


def test_hostile_names_are_text_everywhere() -> None:
    page = render_report_html(hostile())
    assert page.count("<script>") == 1
    for raw in (HOSTILE_GROUP, HOSTILE_STACK, HOSTILE_PACK, "<i>", "<em>"):
        assert raw not in page
    assert '<tr data-stack="evil&lt;em&gt;&quot;&amp;&#x27;|`/st\\u202eack">' in page
    assert "&lt;script&gt;alert(&quot;g&quot;)&lt;/script&gt; &amp; `x` | y" in page
    assert "\u202e" not in page


def test_the_page_prints_without_its_tools_and_with_its_colours() -> None:
    page = render_report_html(sample())
    print_rules = page[page.index("@media print{") :]
    assert "#tools{display:none}" in print_rules
    assert "print-color-adjust:exact" in print_rules


def test_an_org_without_stacks_has_an_empty_matrix() -> None:
    page = render_report_html(report_of(state(), live()))
    assert "(0 stacks × 0 packs)" in page
    assert matrix(page).rows == [["Stack", "Groups", "Audited by", "Status"]]


def test_the_time_is_shown_only_when_given() -> None:
    assert "Generated" not in render_report_html(sample())
    assert "<p>Generated 2027-01-01 12:00 UTC.</p>" in render_report_html(sample(), NOON)


def test_without_a_coverage_read_the_page_says_so() -> None:
    report: CoverageReport = hostile()
    assert "The service's coverage counts were not read." in render_report_html(report)
