"""Renderers: the text and JSON plans, pinned by golden files."""

from __future__ import annotations

import dataclasses
import json

from builders import (
    catalog,
    desired_group,
    live,
    live_group,
    state,
)
from conftest import Golden
from pgsync.core.diff import diff
from pgsync.core.model import InputFile
from pgsync.core.plan import build_plan
from pgsync.render.text import render_json, render_text
from sample_plans import renamed_and_replaced, rich_plan


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


def test_a_replace_that_renames_shows_the_old_name() -> None:
    text = render_text(build_plan("acme", diff(*renamed_and_replaced())))
    assert "  ± production (was prod; stacks, audit)\n" in text


def test_the_json_plan_of_a_replace_that_renames_names_the_old_group() -> None:
    shown = json.loads(render_json(build_plan("acme", diff(*renamed_and_replaced())), "0.1.0"))
    replaced = shown["groups"][0]
    assert (replaced["action"], replaced["previousName"]) == ("replace", "prod")


def test_one_write_request_is_singular() -> None:
    one = build_plan("acme", diff(state(desired_group("a")), live()))
    assert render_text(one).endswith("; 1 write request.\n")


def test_the_heading_counts_the_files_read() -> None:
    inputs = (InputFile("a.yaml", "sha256:0"), InputFile("b/c.yml", "sha256:1"))
    plan = dataclasses.replace(rich_plan(), inputs=inputs)
    assert render_text(plan).startswith('pgsync plan for organization "acme" (2 files read)\n')
    one = dataclasses.replace(plan, inputs=inputs[:1])
    assert render_text(one).startswith('pgsync plan for organization "acme" (1 file read)\n')


def test_drift_is_headed_drift() -> None:
    lines = render_text(rich_plan(), kind="drift").splitlines()
    assert lines[0] == 'pgsync drift for organization "acme"'
    assert lines[-1].startswith("Drift: 2 to create, 1 to update,")


def test_no_drift_says_so() -> None:
    text = render_text(build_plan("acme", diff(state(), live())), kind="drift")
    assert text.endswith(
        "No drift. The live policy groups match the desired state (0 unchanged, 2 unmanaged).\n"
    )
