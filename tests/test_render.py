"""Renderers: the text and JSON plans, pinned by golden files."""

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
from pgsync.diff import diff
from pgsync.plan import Plan, build_plan
from pgsync.render import render_json, render_text


def rich_plan() -> Plan:
    desired = state(
        desired_group(
            "production",
            previously=("prod",),
            stacks=stacks("payments/prod", "web/prod"),
            packs=(
                pack_ref("aws", "1.3.0", "mandatory", {"s3-no-public-read": "disabled"}),
                pack_ref(
                    "cost",
                    "2.0.0",
                    config={"budget": {"token": "s3cr3t", "limit": 100}},
                    secrets=frozenset({("budget", "token")}),
                ),
            ),
        ),
        desired_group("staging", mode="audit", stacks=stacks("payments/staging")),
        desired_group("cloud", "accounts", accounts=frozenset({"aws-prod"})),
        desired_group("sandbox", absent=True),
        desired_group(
            "tuned", agent_pool_id="pool-2", packs=(pack_ref("aws", "1.0.0", "advisory"),)
        ),
    )
    current = live(
        live_group(
            "prod",
            stacks=stacks("payments/prod", "web/old"),
            packs=(applied("aws", "1.0.0", "mandatory"),),
        ),
        live_group("sandbox", mode="audit"),
        live_group("tuned", packs=(applied("aws", "1.0.0", "mandatory"),)),
        live_group("legacy-manual"),
        cat=catalog(
            stack_names=("payments/prod", "web/prod", "payments/staging", "web/old"),
            accounts=("aws-prod",),
        ),
    )
    return build_plan("acme", diff(desired, current))


def test_text_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan.txt", render_text(rich_plan()))


def test_colored_text_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan-color.txt", render_text(rich_plan(), color=True))


def test_json_plan_matches_golden(golden: Golden) -> None:
    golden.check("plan.json", render_json(rich_plan(), "0.1.0"))


def test_text_plan_has_no_ansi_codes_without_color() -> None:
    assert "\x1b[" not in render_text(rich_plan())


def test_no_change_plan_says_so() -> None:
    text = render_text(build_plan("acme", diff(state(), live())))
    assert text.endswith(
        "No changes. The live policy groups match the desired state (0 unchanged, 2 unmanaged).\n"
    )


def test_json_plan_has_contract_keys() -> None:
    shown = json.loads(render_json(rich_plan(), "0.1.0"))
    assert {"formatVersion", "pgsyncVersion", "organization", "inputs", "summary", "groups"} <= set(
        shown
    )
    assert shown["summary"] == {
        "create": 2,
        "update": 1,
        "rename": 1,
        "replace": 0,
        "delete": 1,
        "unchanged": 0,
        "unmanaged": 3,
    }


def test_secrets_never_appear_in_any_rendering() -> None:
    plan = rich_plan()
    for text in (render_text(plan), render_text(plan, color=True), render_json(plan, "0.1.0")):
        assert "s3cr3t" not in text
    assert "[secret]" in render_json(plan, "0.1.0")


def test_notes_are_shown_in_text_and_json() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset({"aws-prod"}))
    current = live_group("cloud", "accounts", accounts=frozenset({"aws-prod", "aws-prod/x"}))
    plan = build_plan(
        "acme", diff(state(group), live(current, cat=catalog(accounts=("aws-prod",))))
    )
    note = "account aws-prod/x via parent 'aws-prod': kept, the service adds it"
    assert f"  ! cloud: {note}" in render_text(plan)
    cloud = next(
        g for g in json.loads(render_json(plan, "0.1.0"))["groups"] if g["name"] == "cloud"
    )
    assert (cloud["notes"], cloud["viaParent"]) == ([note], ["aws-prod/x"])
