"""GitHub Actions workflow commands and files, written to real temporary files."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from builders import desired_group, live, live_group, state
from pgsync.cli import github
from pgsync.cli.github import (
    REPORT_URL_ENV,
    annotation,
    append_step_summary,
    escape_data,
    escape_property,
    is_github_actions,
    plan_outputs,
    report_link,
    write_outputs,
)
from pgsync.core.diff import diff
from pgsync.core.errors import Location, PgsyncError, Problem
from pgsync.core.plan import build_plan
from sample_plans import rich_plan

FIXED = uuid.UUID("12345678-1234-5678-1234-567812345678")
ARTIFACT_URL = "https://github.com/acme/policies/actions/runs/42/artifacts/7"
# A Markdown inline link whose destination has nothing that could end it or start markup.
LINK = re.compile(r"\[Coverage report\]\(([^\s()<>\[\]\\`\"]+)\)")


def parse_outputs(text: str) -> dict[str, str]:
    """Read an outputs file back the way the runner does (multi-line form only)."""
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        name, _, delimiter = line.partition("<<")
        value: list[str] = []
        for inner in lines:
            if inner == delimiter:
                break
            value.append(inner)
        else:
            raise AssertionError(f"unterminated output {name}")
        outputs[name] = "\n".join(value)
    return outputs


def test_github_actions_is_detected_only_from_the_true_flag() -> None:
    assert is_github_actions({"GITHUB_ACTIONS": "true"})
    assert not is_github_actions({"GITHUB_ACTIONS": "false"})
    assert not is_github_actions({"CI": "true"})


def test_data_escapes_percent_first_then_line_breaks() -> None:
    assert escape_data("100%\r\n%0A: a, b") == "100%25%0D%0A%250A: a, b"


def test_property_also_escapes_colon_and_comma() -> None:
    assert escape_property("C:\\a,b%\n") == "C%3A\\a%2Cb%25%0A"


def test_annotation_escapes_message_and_properties() -> None:
    problem = Problem(Location("dir/a,b:c.yaml", 3, 5), "bad: 100%, next line")
    assert annotation(problem, "warning", title="pg:sync, check") == (
        "::warning file=dir/a%2Cb%3Ac.yaml,line=3,col=5,title=pg%3Async%2C check"
        "::bad: 100%25, next line"
    )


def test_annotation_defaults_to_an_error_titled_pgsync() -> None:
    problem = Problem(Location("groups.yaml", 1, 2), "duplicate group name 'a'")
    assert annotation(problem) == (
        "::error file=groups.yaml,line=1,col=2,title=pgsync::duplicate group name 'a'"
    )


def test_annotation_refuses_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="level"):
        annotation(Problem(Location("a.yaml", 1, 1), "x"), "fatal")


def test_outputs_file_parses_back_including_multiline_values(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier<<EOF\nkept\nEOF\n", encoding="utf-8")
    write_outputs(path, {"has_changes": "true", "note": "line one\nline two", "empty": ""})
    write_outputs(str(path), {"plan_json": "out/plan.json"})
    assert parse_outputs(path.read_text(encoding="utf-8")) == {
        "earlier": "kept",
        "has_changes": "true",
        "note": "line one\nline two",
        "empty": "",
        "plan_json": "out/plan.json",
    }


def test_outputs_use_a_fresh_random_delimiter_each(tmp_path: Path) -> None:
    path = tmp_path / "output"
    write_outputs(path, {"a": "1", "b": "2"})
    headers = [line for line in path.read_text(encoding="utf-8").splitlines() if "<<" in line]
    delimiters = {line.partition("<<")[2] for line in headers}
    assert len(delimiters) == 2
    assert all(d.startswith("ghadelimiter_") for d in delimiters)


def test_output_value_holding_the_delimiter_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github, "uuid4", lambda: FIXED)
    path = tmp_path / "output"
    injected = f"x\nghadelimiter_{FIXED}\nhas_changes<<EOF\nfalse\nEOF"
    with pytest.raises(ValueError, match="delimiter"):
        write_outputs(path, {"ok": "fine", "evil": injected})
    assert not path.exists()


@pytest.mark.parametrize("name", ["", "has changes", "a<<b", "x\ny", "ünïcode"])
def test_output_name_outside_the_safe_alphabet_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        write_outputs(tmp_path / "output", {name: "1"})


def test_plan_outputs_are_scalars_with_renames_counted_as_updates() -> None:
    assert plan_outputs(rich_plan(), "plan.json") == {
        "has_changes": "true",
        "creates": "2",
        "updates": "2",
        "deletes": "1",
        "plan_json": "plan.json",
    }


def test_plan_outputs_of_an_empty_plan_say_no_changes() -> None:
    plan = build_plan("acme", diff(state(desired_group("a")), live(live_group("a"))))
    outputs = plan_outputs(plan, "p.json")
    assert (outputs["has_changes"], outputs["creates"], outputs["deletes"]) == ("false", "0", "0")


def test_step_summary_appends_with_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    append_step_summary(path, "# one")
    append_step_summary(path, "two\n")
    assert path.read_text(encoding="utf-8") == "# one\ntwo\n"


def test_step_summary_cut_keeps_a_prefilled_file_under_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * 600 + b"\n")
    markdown = "".join(f"line {i}\n" for i in range(100))
    append_step_summary(path, markdown, cap_bytes=1_000)
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) <= 1_000
    kept, _ = text[601:].split("\n> ✂️ Truncated")
    assert kept and markdown.startswith(kept) and kept.endswith("\n")
    assert text.endswith("step summary limit of 1,000 bytes.\n")


def test_step_summary_never_splits_a_multibyte_character(tmp_path: Path) -> None:
    markdown = "".join(f"é€😀 {i}\n" for i in range(50))
    for cap in range(200, 400, 7):
        path = tmp_path / f"summary-{cap}.md"
        path.write_bytes(b"prefill\n")
        append_step_summary(path, markdown, cap_bytes=cap)
        data = path.read_bytes()
        assert len(data) <= cap
        kept = data.decode("utf-8").removeprefix("prefill\n").split("\n> ✂️")[0]
        assert markdown.startswith(kept)


def test_step_summary_gets_only_the_notice_when_no_line_fits(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("before\n", encoding="utf-8")
    append_step_summary(path, "y" * 500 + "\n", cap_bytes=200)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("before\n\n> ✂️ Truncated")
    assert len(text.encode()) <= 200


def test_step_summary_is_left_alone_when_even_the_notice_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("z" * 90, encoding="utf-8")
    append_step_summary(path, "more\n" * 10, cap_bytes=100)
    assert path.read_text(encoding="utf-8") == "z" * 90


def test_step_summary_is_not_cut_inside_a_details_block(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    markdown = "intro\n\n<details><summary>a</summary>\n\n" + "- item\n" * 50 + "\n</details>\n"
    append_step_summary(path, markdown, cap_bytes=250)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("intro\n\n\n> ✂️ Truncated")
    assert "<details>" not in text


def test_no_report_link_without_a_report_url() -> None:
    assert report_link({}) == ""
    assert report_link({REPORT_URL_ENV: ""}) == ""


def test_report_link_is_a_paragraph_linking_the_artifact() -> None:
    link = report_link({REPORT_URL_ENV: ARTIFACT_URL})
    assert link.startswith("\n📊 [Coverage report](") and link.endswith(".\n")
    found = LINK.search(link)
    assert found is not None and found[1] == ARTIFACT_URL


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40))
def test_report_link_destination_cannot_break_the_link(tail: str) -> None:
    url = f"{ARTIFACT_URL}?x={tail}"
    assume(url.isprintable())  # the others are refused, as the next tests show
    found = LINK.search(report_link({REPORT_URL_ENV: url}))
    assert found is not None
    assert unquote(found[1]) == unquote(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "https://",
        "github.com/acme/policies",
        f"{ARTIFACT_URL}\n[x](https://evil.example)",
    ],
)
def test_report_link_refuses_anything_but_an_http_url(url: str) -> None:
    with pytest.raises(PgsyncError, match=REPORT_URL_ENV):
        report_link({REPORT_URL_ENV: url})


def test_report_link_error_shows_the_value_on_one_line() -> None:
    with pytest.raises(PgsyncError) as raised:
        report_link({REPORT_URL_ENV: "ftp://host/a\nb"})
    assert "\n" not in str(raised.value)
