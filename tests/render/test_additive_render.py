"""Plans of additive lists (`manage:`) name what they leave alone, in every format."""

from __future__ import annotations

import json

from builders import (
    applied,
    catalog,
    desired_group,
    live,
    live_group,
    pack_ref,
    stacks,
    state,
)
from conftest import Golden
from pgsync.core.diff import diff
from pgsync.core.plan import Plan, build_plan
from pgsync.render.markdown import render_markdown
from pgsync.render.text import render_json, render_text


def additive_plan() -> Plan:
    """`production` adds a stack and upgrades a pack beside live members it does not list;
    `shared` lists everything it wants already and is unchanged."""
    desired = state(
        desired_group(
            "production",
            stacks=stacks("payments/prod", "web/prod"),
            packs=(pack_ref("aws", "1.3.0", "mandatory"),),
            additive=frozenset({"stacks", "policyPacks"}),
        ),
        desired_group("shared", stacks=stacks("web/prod"), additive=frozenset({"stacks"})),
    )
    current = live(
        live_group(
            "production",
            stacks=stacks("payments/prod", "team-a/prod", "team-b/prod", "team-c/prod"),
            packs=(applied("aws", "1.0.0", "mandatory"), applied("cost", "2.0.0")),
        ),
        live_group("shared", stacks=stacks("web/prod", "team-a/dev")),
        cat=catalog(
            stack_names=(
                "payments/prod",
                "web/prod",
                "team-a/prod",
                "team-b/prod",
                "team-c/prod",
                "team-a/dev",
            )
        ),
    )
    return build_plan("acme", diff(desired, current))


def test_additive_text_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan-additive.txt", render_text(additive_plan()))


def test_additive_markdown_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan-additive.md", render_markdown(additive_plan()))


def test_additive_json_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan-additive.json", render_json(additive_plan(), "0.1.0"))


def test_json_plan_names_each_additive_list_and_what_it_leaves_alone() -> None:
    groups = {g["name"]: g for g in json.loads(render_json(additive_plan(), "0.1.0"))["groups"]}
    assert groups["production"]["manage"] == {"stacks": "additive", "policyPacks": "additive"}
    assert groups["production"]["leftAlone"] == {
        "stacks": ["team-a/prod", "team-b/prod", "team-c/prod"],
        "policyPacks": ["cost"],
    }
    assert groups["shared"]["leftAlone"] == {"stacks": ["team-a/dev"]}


def test_json_plan_of_authoritative_groups_has_no_additive_keys() -> None:
    plan = build_plan("acme", diff(state(desired_group("steady")), live(live_group("steady"))))
    (group,) = (
        g for g in json.loads(render_json(plan, "0.1.0"))["groups"] if g["name"] == "steady"
    )
    assert "manage" not in group
    assert "leftAlone" not in group
