"""The plan's effect on stacks (contract §6.3) in the text, Markdown and JSON plans."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st

from builders import applied, catalog, desired_group, live, live_group, pack_ref, stacks, state
from conftest import Golden
from pgsync.core.impact import live_view, planned_view
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import AppliedPack, DesiredState, LiveState, RuleSetting, StackRef
from pgsync.core.plan import Plan
from pgsync.core.planning import make_plan
from pgsync.render.display import display_plan
from pgsync.render.markdown import STACKS_SHOWN, render_markdown
from pgsync.render.text import IMPACT_SHOWN, plan_json, render_json, render_text

AWS_MANDATORY = applied("aws", "1.0.0", "mandatory")
COST_ADVISORY = applied("cost", "2.0.0", "advisory")
CONTRACT_COUNTS = {"stacksAffected", "gainMandatory", "loseMandatory", "leavePreventative"}


def with_default(current: LiveState, *packs: AppliedPack) -> LiveState:
    default = live_group("default-policy-group", is_default=True, packs=packs)
    return dataclasses.replace(current, groups={**current.groups, default.name: default})


def moved() -> Plan:
    """web/prod moves from prod to staging, which enforces aws too; scan stops auditing it."""
    current = live(
        live_group("prod", stacks=stacks("web/prod", "web/dev"), packs=(AWS_MANDATORY,)),
        live_group("staging", stacks=stacks("web/stage"), packs=(AWS_MANDATORY, COST_ADVISORY)),
        live_group("scan", mode="audit", stacks=stacks("web/prod")),
    )
    desired = state(
        desired_group("prod", stacks=stacks("web/dev")),
        desired_group("staging", stacks=stacks("web/stage", "web/prod")),
        desired_group("scan", mode="audit", stacks=frozenset()),
    )
    return make_plan(desired, current)


def losing() -> Plan:
    """prod drops aws and web/old: web/old falls back to the default group's cost, web/both
    keeps aws through `also`, web/prod loses it."""
    current = with_default(
        live(
            live_group(
                "prod", stacks=stacks("web/prod", "web/old", "web/both"), packs=(AWS_MANDATORY,)
            ),
            live_group("also", stacks=stacks("web/both"), packs=(AWS_MANDATORY,)),
        ),
        applied("cost", "2.0.0", "mandatory"),
    )
    desired = state(
        desired_group("prod", stacks=stacks("web/prod", "web/both"), packs=()),
        desired_group("also"),
    )
    return make_plan(desired, current)


def versions() -> Plan:
    """`newer` brings aws 1.3.0 at advisory to a stack that prod enforces 1.0.0 mandatory on;
    `up` upgrades aws keeping it mandatory; `tuned` makes one policy of cost mandatory."""
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
        live_group("newer", stacks=stacks("web/prod")),
        live_group("up", stacks=stacks("svc/b"), packs=(AWS_MANDATORY,)),
        live_group("tuned", stacks=stacks("svc/a"), packs=(COST_ADVISORY,)),
    )
    desired = state(
        desired_group("prod"),
        desired_group("newer", packs=(pack_ref("aws", "1.3.0", "advisory"),)),
        desired_group("up", packs=(pack_ref("aws", "1.3.0", "mandatory"),)),
        desired_group(
            "tuned",
            packs=(pack_ref("cost", "2.0.0", "advisory", {"budget": "mandatory"}),),
        ),
    )
    return make_plan(desired, current)


def many_losing(count: int) -> Plan:
    names = [f"svc/s{i:03d}" for i in range(count)]
    current = live(live_group("big", stacks=stacks(*names), packs=(AWS_MANDATORY,)))
    return make_plan(state(desired_group("big", packs=())), current)


def impact_json(plan: Plan) -> str:
    return json.dumps(plan_json(plan, "0.1.0")["impact"], indent=2, ensure_ascii=False) + "\n"


def test_a_stack_moved_between_groups(golden: Golden) -> None:
    plan = moved()
    golden.check("plan-impact-moved.txt", render_text(plan))
    golden.check("plan-impact-moved.md", render_markdown(plan))
    golden.check("plan-impact-moved.json", impact_json(plan))


def test_stacks_losing_mandatory_enforcement(golden: Golden) -> None:
    plan = losing()
    golden.check("plan-impact-loss.txt", render_text(plan))
    golden.check("plan-impact-loss.md", render_markdown(plan))
    golden.check("plan-impact-loss.json", impact_json(plan))


def test_version_and_level_changes(golden: Golden) -> None:
    plan = versions()
    golden.check("plan-impact-versions.txt", render_text(plan))
    golden.check("plan-impact-versions.md", render_markdown(plan))
    golden.check("plan-impact-versions.json", impact_json(plan))


def test_a_comment_over_the_cap_keeps_the_counts_and_cuts_the_stacks(golden: Golden) -> None:
    text = render_markdown(many_losing(120), limit=2_500)
    assert len(text) <= 2_500
    golden.check("plan-impact-truncated.md", text)


def test_a_comment_lists_at_most_so_many_stacks_and_counts_the_rest() -> None:
    text = render_markdown(many_losing(STACKS_SHOWN + 7))
    assert "- …and 7 more affected stacks\n\n</details>" in text
    assert text.count("🔻 `svc/") == STACKS_SHOWN


def test_the_text_plan_names_the_first_stacks_and_counts_the_rest() -> None:
    text = render_text(many_losing(IMPACT_SHOWN + 3))
    assert "  … and 3 more stacks (all in the JSON plan's impact)\n" in text
    assert text.count("  ! svc/") == IMPACT_SHOWN


def test_stacks_losing_mandatory_enforcement_are_listed_first() -> None:
    lines = render_text(versions()).splitlines()
    first = lines.index(next(line for line in lines if line.startswith("Effect on stacks")))
    assert [line.split(":")[0] for line in lines[first + 1 : first + 4]] == [
        "  ! web/prod",
        "  ~ svc/a",
        "  ~ svc/b",
    ]


def test_a_plan_that_changes_no_stack_says_so() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod")))
    plan = make_plan(state(desired_group("prod", agent_pool_id="pool-2")), current)
    assert "Effect on stacks: none: no stack's enforcement or audit coverage changes.\n" in (
        render_text(plan)
    )
    assert "**Effect on stacks:** none: no stack's enforcement or audit coverage changes." in (
        render_markdown(plan)
    )
    assert plan_json(plan, "0.1.0")["impact"] == {
        "summary": dict.fromkeys(
            (
                "stacksAffected",
                "gainMandatory",
                "loseMandatory",
                "leavePreventative",
                "joinPreventative",
                "auditChanged",
            ),
            0,
        ),
        "stacks": [],
    }


def test_a_plan_without_changes_says_nothing_of_stacks_but_its_json_counts_none() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod")))
    plan = make_plan(state(desired_group("prod", stacks=stacks("web/prod"))), current)
    assert "Effect on stacks" not in render_text(plan) + render_markdown(plan)
    assert plan_json(plan, "0.1.0")["impact"]["stacks"] == []


def test_a_plan_made_without_safety_has_no_impact() -> None:
    plan = make_plan(state(desired_group("prod", stacks=frozenset())), live(), safety=False)
    assert "impact" not in plan_json(plan, "0.1.0")
    assert "Effect on stacks" not in render_text(plan)


def test_json_impact_has_the_contract_shape() -> None:
    shown = json.loads(render_json(versions(), "0.1.0"))["impact"]
    assert set(shown) == {"summary", "stacks"}
    assert set(shown["summary"]) >= CONTRACT_COUNTS
    assert all(isinstance(n, int) for n in shown["summary"].values())
    for entry in shown["stacks"]:
        assert set(entry) == {"stack", "before", "after"}
        StackRef.parse(entry["stack"])
        for e in (entry["before"], entry["after"]):
            assert set(e) == {"packs", "groups", "viaDefault", "auditedBy"}
            assert isinstance(e["viaDefault"], bool)
            assert all(isinstance(g, str) for g in e["groups"] + e["auditedBy"])
            for pack in e["packs"].values():
                assert (
                    {"versionTag", "enforcementLevel"}
                    <= set(pack)
                    <= {
                        "versionTag",
                        "enforcementLevel",
                        "policies",
                    }
                )


def test_undeclared_groups_not_read_are_said_in_every_format() -> None:
    current = dataclasses.replace(
        live(live_group("prod", packs=(AWS_MANDATORY,))), unread=frozenset({"other"})
    )
    plan = make_plan(state(desired_group("prod", stacks=stacks("web/prod"))), current)
    caveat = "1 undeclared group not read"
    assert caveat in render_text(plan) and caveat in render_markdown(plan)
    assert plan_json(plan, "0.1.0")["impact"]["groupsNotRead"] == 1


def test_config_values_never_appear_in_the_impact() -> None:
    secret = pack_ref(
        "cost",
        "2.0.0",
        "mandatory",
        {"budget": {"token": "s3cr3t", "limit": 100}},
        frozenset({("budget", "token")}),
    )
    current = live(live_group("prod", stacks=stacks("web/prod")))
    plan = make_plan(state(desired_group("prod", packs=(secret,))), current)
    assert plan.impact is not None and plan.impact.stacks
    sections = (
        impact_section(render_text(plan), "Effect on stacks", "\n\n"),
        impact_section(render_markdown(plan), "Effect on stacks", "</details>"),
        impact_json(plan),
    )
    assert all("s3cr3t" not in shown and "100" not in shown for shown in sections)
    assert '"budget": "mandatory"' in sections[2]


def impact_section(text: str, start: str, end: str) -> str:
    return text[text.index(start) :].split(end, 1)[0]


def test_names_in_the_impact_are_escaped() -> None:
    current = live(live_group("prod\u202e", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("prod\u202e", stacks=frozenset()))
    plan = make_plan(desired, current, allow=["unprotected:prod\u202e"])
    for text in (render_text(display_plan(plan)), render_markdown(display_plan(plan))):
        assert "\u202e" not in text
        assert "groups prod\\u202e → default-policy-group (default)" in text


def test_a_stack_name_in_the_markdown_impact_is_escaped_before_the_comment_cap() -> None:
    hidden = "web/pro\u202ed"
    current = live(live_group("prod", stacks=stacks(hidden), packs=(AWS_MANDATORY,)))
    plan = make_plan(
        state(desired_group("prod", stacks=frozenset())),
        current,
        allow=["unprotected:prod", "mandatory-loss:prod:aws"],
    )
    text = render_markdown(display_plan(plan))
    assert "`web/pro\\u202ed`" in text
    assert "\u202e" not in text


STACK_NAMES = st.sampled_from(["web/prod", "web/dev", "svc/a"])
LEVELS = st.sampled_from([None, "advisory", "mandatory"])


@st.composite
def plans(draw: st.DrawFn) -> tuple[DesiredState, LiveState]:
    """Two groups with random stacks and an aws version and level, declared otherwise."""
    groups, declared = [], []
    for name in ("a", "b"):
        tag = draw(st.sampled_from(["1.0.0", "1.3.0"]))
        groups.append(
            live_group(
                name,
                stacks=stacks(*draw(st.sets(STACK_NAMES))),
                packs=(applied("aws", tag, draw(LEVELS)),),
            )
        )
        declared.append(
            desired_group(
                name,
                stacks=stacks(*draw(st.sets(STACK_NAMES))),
                packs=(pack_ref("aws", draw(st.sampled_from(["1.0.0", "1.3.0"])), draw(LEVELS)),),
            )
        )
    current = live(*groups, cat=catalog(("web/prod", "web/dev", "svc/a")))
    return state(*declared), current


@given(plans())
def test_json_impact_lists_exactly_the_stacks_whose_enforcement_differs(
    drawn: tuple[DesiredState, LiveState],
) -> None:
    desired, current = drawn
    plan = make_plan(desired, current)
    before, after = live_view(current), planned_view(plan, current)
    differing = [
        str(stack)
        for stack in sorted(set(catalog(("web/prod", "web/dev", "svc/a")).stacks or ()))
        if before.of(stack).to_json() != after.of(stack).to_json()
    ]
    listed = plan_json(plan, "0.1.0")["impact"]["stacks"]
    assert [s["stack"] for s in listed] == differing
    assert all(s["before"] != s["after"] for s in listed)


def test_a_new_rules_matches_are_said_to_be_not_counted() -> None:
    rule = match_rule(compile_rules([{"env": "prod"}], "stack") or {}, "stack")
    current = live(live_group("tagged", packs=(AWS_MANDATORY,)))
    desired = state(
        desired_group("tagged", stack_match=RuleSetting(rule), stacks=stacks("web/prod"))
    )
    plan = make_plan(desired, current)
    assert "Not counted: the stacks that the new match rule of tagged will match" in (
        render_text(plan)
    )
    assert plan_json(plan, "0.1.0")["impact"]["unknownRuleMatches"] == ["tagged"]


MANY_LOSING = many_losing(60)


@given(st.integers(0, 8_000))
def test_a_comment_with_affected_stacks_keeps_to_every_limit(limit: int) -> None:
    assert len(render_markdown(MANY_LOSING, limit=limit)) <= limit


def test_per_policy_entries_that_change_no_level_are_said_so() -> None:
    current = live(
        live_group(
            "prod", stacks=stacks("web/prod"), packs=(applied("aws", "1.0.0", "advisory", p={}),)
        )
    )
    plan = make_plan(
        state(desired_group("prod", packs=(pack_ref("aws", "1.0.0", "advisory"),))), current
    )
    assert "~aws 1.0.0 policies: entries changed, levels the same" in render_text(plan)
