"""The Markdown plan for PR comments: content, escaping, and the size cap."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import applied, desired_group, live, live_group, pack_ref, stacks, state
from conftest import Golden
from pgsync.core.changes import AddStack, Change, RemoveAccount, RemovePack, RemoveStack, Rename
from pgsync.core.diff import Action, diff
from pgsync.core.model import Coverage, InputFile, StackRef
from pgsync.core.plan import GroupPlan, Plan, build_plan
from pgsync.render.markdown import render_markdown
from sample_plans import renamed_and_replaced, rich_plan

COVERAGE = Coverage(
    protected_stacks=150,
    preventative_stacks=120,
    audit_stacks=30,
    total_stacks=203,
    protected_accounts=1,
    total_accounts=3,
)
TRUNCATED = "> ✂️ Truncated"


def group(
    name: str,
    action: Action = "update",
    changes: Sequence[Change] = (),
    live_name: str | None = None,
    notes: tuple[str, ...] = (),
) -> GroupPlan:
    return GroupPlan(
        name,
        action,
        "stacks",
        "preventative",
        live_name or (None if action == "create" else name),
        tuple(changes),
        notes=notes,
    )


def adds(count: int, project: str = "svc") -> list[Change]:
    return [AddStack(StackRef(project, f"s{i:03d}")) for i in range(count)]


def removes(count: int) -> list[Change]:
    return [RemoveStack(StackRef("old", f"s{i:03d}")) for i in range(count)]


def wide_plan(groups: int, stacks_each: int) -> Plan:
    """`groups` new groups of `stacks_each` stacks each, through the real diff and planner."""
    names = [f"svc/s{i:03d}" for i in range(stacks_each)]
    desired = [desired_group(f"team-{i:03d}", stacks=stacks(*names)) for i in range(groups)]
    return build_plan("acme", diff(state(*desired), live()))


def assert_well_formed(text: str, full: str) -> None:
    """Balanced, unbroken <details> blocks taken whole from `full`, and whole table rows."""
    lines = text.splitlines()
    opened = [i for i, line in enumerate(lines) if line.startswith("<details>")]
    closed = [i for i, line in enumerate(lines) if line == "</details>"]
    assert len(opened) == len(closed) == text.count("<details>") == text.count("</details>")
    assert all(o < c for o, c in zip(opened, closed, strict=True))
    assert all(c < o for c, o in zip(closed, opened[1:], strict=False))
    for block in re.findall(r"<details>.*?</details>\n", text, re.DOTALL):
        assert block in full
    table = [line for line in lines if line.startswith("|")]
    assert len(table) in (0, 3)
    assert all(line.endswith("|") for line in table)


def test_markdown_plan_matches_golden(golden: Golden) -> None:
    plan = dataclasses.replace(rich_plan(), coverage=COVERAGE)
    golden.check("plan.md", render_markdown(plan))


def test_no_change_markdown_plan_matches_golden(golden: Golden) -> None:
    plan = build_plan("acme", diff(state(desired_group("steady")), live(live_group("steady"))))
    golden.check("plan-nochange.md", render_markdown(plan))


def test_table_counts_every_action_and_the_write_requests() -> None:
    rows = [line for line in render_markdown(rich_plan()).splitlines() if line.startswith("|")]
    header, _, values = ([cell.strip() for cell in row.strip("|").split("|")] for row in rows)
    assert dict(zip(header, values, strict=True)) == {
        "create": "2",
        "update": "1",
        "rename": "1",
        "replace": "0",
        "delete": "1",
        "unchanged": "0",
        "unmanaged": "3",
        "write requests": "8",
    }


def test_coverage_line_is_shown_only_when_read() -> None:
    line = f"**Coverage:** {COVERAGE.summary()}."
    assert line in render_markdown(dataclasses.replace(rich_plan(), coverage=COVERAGE))
    assert "Coverage" not in render_markdown(rich_plan())


def test_destructive_changes_are_listed_before_any_group_details() -> None:
    pack = applied("aws", "1.0.0")
    plan = Plan(
        "acme",
        (
            group("web", changes=[*adds(1), *removes(1)]),
            group("cloud", changes=[RemoveAccount("aws-prod")]),
            group("guard", changes=[RemovePack(pack)]),
            group("legacy", "delete"),
        ),
    )
    text = render_markdown(plan)
    listed = text[text.index("#### ⚠️ Destructive changes (4)") : text.index("<details>")]
    assert listed.splitlines()[1:5] == [
        "- `web`: remove `stack old/s000`",
        "- `cloud`: remove `account aws-prod`",
        "- `guard`: remove `pack aws 1.0.0`",
        "- `legacy`: delete the group",
    ]


def test_plan_without_removals_has_no_destructive_section() -> None:
    plan = Plan("acme", (group("web", "create", adds(2)),))
    assert "Destructive" not in render_markdown(plan)


def test_each_changed_group_gets_one_details_block() -> None:
    plan = rich_plan()
    text = render_markdown(plan)
    named = re.findall(r"^<details><summary>\S+ <code>(.*?)</code>", text, re.MULTILINE)
    assert named == [g.name for g in plan.changed]


def test_group_summary_has_symbol_name_action_and_counts() -> None:
    renamed = group(
        "production",
        "rename",
        [Rename("prod", "production"), RemovePack(applied("aws", "1.0.0")), *adds(3)],
        live_name="prod",
    )
    text = render_markdown(Plan("acme", (renamed,)))
    assert (
        "<summary>→ <code>production</code> (renamed from <code>prod</code>)"
        " — −1 pack +3 stacks</summary>"
    ) in text


def test_a_replace_that_renames_names_the_old_group_in_its_summary_and_as_destructive() -> None:
    plan = build_plan("acme", diff(*renamed_and_replaced()))
    text = render_markdown(plan)
    assert (
        "<summary>± <code>production</code> (replaced, renamed from <code>prod</code>,"
        " now stacks, audit) — +1 stack</summary>"
    ) in text
    assert "- `production`: replace the group, renamed from `prod` (new one filled first)" in text


def test_a_count_of_one_takes_the_singular() -> None:
    text = render_markdown(Plan("acme", (group("web", changes=adds(2_000)),)), limit=1_000)
    assert "> ✂️ Truncated: 0 of 1 changed group shown in detail;" in text


def test_the_heading_counts_the_files_read() -> None:
    one = dataclasses.replace(rich_plan(), inputs=(InputFile("a.yaml", "sha256:0"),))
    two = dataclasses.replace(one, inputs=(*one.inputs, InputFile("b.yaml", "sha256:1")))
    assert render_markdown(one).startswith("### pgsync plan for `acme` (1 file read)\n")
    assert render_markdown(two).startswith("### pgsync plan for `acme` (2 files read)\n")


def test_drift_is_headed_drift() -> None:
    assert render_markdown(rich_plan(), kind="drift").startswith("### pgsync drift for `acme`\n")
    no_change = build_plan("acme", diff(state(), live()))
    assert "✅ No drift. The live policy groups match" in render_markdown(no_change, kind="drift")


def test_group_details_list_changes_with_nested_detail_lines() -> None:
    text = render_markdown(rich_plan())
    assert "- `+ pack cost 2.0.0`\n  - `budget: {" in text
    assert "- `- stack web/old`\n- `+ stack web/prod`\n" in text


def test_group_notes_are_inside_its_details() -> None:
    noted = group("cloud", changes=adds(1), notes=("account 'aws-prod/x' is a member",))
    text = render_markdown(Plan("acme", (noted,)))
    assert "- ℹ️ account 'aws-prod/x' is a member\n\n</details>" in text


def test_notes_of_unchanged_groups_are_listed() -> None:
    quiet = group("cloud", "unchanged", notes=("account 'x' is a member",))
    text = render_markdown(Plan("acme", (quiet, group("web", changes=adds(1)))))
    assert "- `cloud`: account 'x' is a member" in text


def test_no_change_plan_says_so_without_a_table() -> None:
    text = render_markdown(build_plan("acme", diff(state(), live())))
    assert "✅ No changes." in text
    assert "|" not in text


def test_names_with_markup_characters_are_escaped() -> None:
    name = "a|b<i>`c`"
    plan = Plan("acme", (group(name, "delete"), group("web", changes=adds(1, "p|<b>`"))))
    text = render_markdown(plan)
    outside_code = re.sub(r"(`+).*?\1", "", text)
    assert "<i>" not in outside_code
    assert "<b>" not in outside_code
    assert "<summary>- <code>a|b&lt;i&gt;`c`</code> (deleted, stacks, preventative)" in text
    assert "- `` a|b<i>`c` ``: delete the group" in text
    assert "- ``+ stack p|<b>`/s000``" in text


def test_secret_values_are_never_shown() -> None:
    secret = pack_ref(
        "cost", "2.0.0", config={"db": {"pw": "hunter2"}}, secrets=frozenset({("db", "pw")})
    )
    plan = build_plan("acme", diff(state(desired_group("web", packs=(secret,))), live()))
    text = render_markdown(plan)
    assert "hunter2" not in text
    assert '`db: {"pw": "[secret]"}`' in text


def test_plan_that_fits_exactly_is_not_truncated() -> None:
    full = render_markdown(rich_plan())
    assert render_markdown(rich_plan(), limit=len(full)) == full
    assert TRUNCATED in render_markdown(rich_plan(), limit=len(full) - 1)


def test_large_plan_is_cut_to_the_limit_with_a_truncation_line() -> None:
    plan = wide_plan(200, 100)
    full = render_markdown(plan, limit=10**9)
    text = render_markdown(plan)
    assert len(full) > 60_000 >= len(text)
    shown = text.count("<details>")
    assert 0 < shown < 200
    assert text.endswith(
        f"> ✂️ Truncated: {shown} of 200 changed groups shown in detail; the full plan is in "
        "the step summary and the plan.json artifact.\n"
    )
    assert "- `+` `team-199` (new, stacks, preventative) — +100 stacks" in text
    assert_well_formed(text, full)


def test_truncation_line_uses_the_given_hint() -> None:
    text = render_markdown(wide_plan(20, 10), limit=2_000, full_plan_hint="see the job log")
    assert text.endswith("; see the job log.\n")


def test_compact_group_list_is_cut_when_even_it_is_too_long() -> None:
    text = render_markdown(wide_plan(200, 1), limit=3_000)
    assert "<details>" not in text
    assert re.search(r"^- …and \d+ more changed groups$", text, re.MULTILINE)
    assert len(text) <= 3_000


def test_enormous_destructive_list_is_cut_with_an_and_more_line() -> None:
    plan = Plan("acme", tuple(group(f"g{i:03d}", changes=removes(100)) for i in range(200)))
    text = render_markdown(plan)
    assert len(text) <= 60_000
    assert "#### ⚠️ Destructive changes (20000)" in text
    assert re.search(r"^- …and \d+ more destructive changes$", text, re.MULTILINE)
    assert text.endswith(
        "0 of 200 changed groups shown in detail; the full plan is in "
        "the step summary and the plan.json artifact.\n"
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    names = draw(st.lists(st.text("ab|<>`-_", min_size=1, max_size=6), max_size=8, unique=True))
    groups = []
    for name in names:
        action: Action = draw(st.sampled_from(["create", "update", "delete", "unchanged"]))
        changes = [] if action in ("delete", "unchanged") else adds(draw(st.integers(0, 12)))
        if action == "update":
            changes += removes(draw(st.integers(0, 4)))
        groups.append(group(name, action, changes))
    return Plan("acme", tuple(groups))


@settings(max_examples=150, deadline=None)
@given(plan=plans(), data=st.data())
def test_limit_is_respected_at_every_size(plan: Plan, data: st.DataObject) -> None:
    full = render_markdown(plan, limit=10**9)
    limit = data.draw(st.integers(0, len(full) + 10))
    text = render_markdown(plan, limit=limit)
    assert len(text) <= limit
    if limit >= len(full):
        assert text == full
    else:
        assert text == "" or text.splitlines()[-1].startswith(TRUNCATED)
        assert_well_formed(text, full)
