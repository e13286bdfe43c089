"""Plans tell reviewers which pack set or template a change comes from (contract §6.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builders import applied, live, live_group, stacks
from conftest import Golden
from pgsync.core.diff import diff
from pgsync.core.model import (
    AppliedPack,
    OrgCatalog,
    PublishedPack,
    canonical_json,
    normalise_config,
)
from pgsync.core.plan import Plan, build_plan
from pgsync.load.desired import load_desired
from pgsync.render.display import display_plan
from pgsync.render.markdown import render_markdown
from pgsync.render.text import render_json, render_text

ORGANIZATION = """\
organization: acme
packSets:
  baseline:
    - {name: aws, versionTag: "1.3.0", enforcementLevel: mandatory}
templates:
  prod-like:
    mode: preventative
    policyPacks:
      - {use: baseline}
      - {name: cost, versionTag: "2.0.0", enforcementLevel: advisory}
policyGroups:
  - {name: payments, extends: prod-like}
  - {name: web, extends: prod-like}
  - {name: data, extends: prod-like}
  - name: dev
    policyPacks: [{use: baseline}]
  - name: legacy
    policyPacks: [{name: aws, versionTag: "1.3.0", enforcementLevel: mandatory}]
  - {name: new-team, extends: prod-like}
"""


@pytest.fixture
def origins_plan(tmp_path: Path) -> Plan:
    """A version bump of `aws` in the set `baseline` reaches four live groups, three through
    the template `prod-like`, which also adds `cost`; `legacy` writes its own `aws`, `dev`
    loses a pack no file asks for, and `new-team` is new."""
    path = tmp_path / "groups.yaml"
    path.write_text(ORGANIZATION)
    old_aws = applied("aws", "1.0.0", "mandatory")
    current = live(
        live_group("payments", packs=(old_aws,)),
        live_group("web", packs=(old_aws,)),
        live_group("data", packs=(old_aws, applied("cost", "2.0.0", "advisory"))),
        live_group("dev", packs=(old_aws, applied("cost", "2.0.0"))),
        live_group("legacy", packs=(old_aws,)),
    )
    return display_plan(build_plan("acme", diff(load_desired([path]), current)))


def json_changes(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    shown = json.loads(render_json(plan, "0.1.0"))
    return {g["name"]: g["changes"] for g in shown["groups"]}


def test_origins_text_plan_matches_golden(origins_plan: Plan, golden: Golden) -> None:
    golden.check("plan-origins.txt", render_text(origins_plan))


def test_origins_markdown_plan_matches_golden(origins_plan: Plan, golden: Golden) -> None:
    golden.check("plan-origins.md", render_markdown(origins_plan))


def test_origins_json_plan_matches_golden(origins_plan: Plan, golden: Golden) -> None:
    golden.check("plan-origins.json", render_json(origins_plan, "0.1.0"))


def test_text_plan_tells_a_set_s_upgrade_once_with_the_groups_it_reaches(
    origins_plan: Plan,
) -> None:
    assert (
        "  packSet baseline: ~ pack aws 1.0.0 → 1.3.0 in 4 groups (data, dev, payments and"
        " 1 more)\n" in render_text(origins_plan)
    )


def test_a_template_s_own_entry_is_told_as_the_template_s(origins_plan: Plan) -> None:
    assert "  template prod-like: + pack cost 2.0.0 (advisory) in 2 groups (payments, web)\n" in (
        render_text(origins_plan)
    )


def test_json_changes_from_a_set_or_template_carry_their_origin(origins_plan: Plan) -> None:
    changes = json_changes(origins_plan)
    assert [(c["kind"], c.get("origin")) for c in changes["payments"]] == [
        ("addPolicyPack", "template prod-like"),
        ("upgradePolicyPack", "packSet baseline"),
    ]
    assert [c.get("origin") for c in changes["new-team"]] == [
        "packSet baseline",
        "template prod-like",
    ]


def test_json_changes_of_a_group_s_own_entries_have_no_origin_key(origins_plan: Plan) -> None:
    changes = json_changes(origins_plan)
    assert all("origin" not in c for c in changes["legacy"])
    removed = [c for c in changes["dev"] if c["kind"] == "removePolicyPack"]
    assert removed and all("origin" not in c for c in removed)


def test_a_new_group_s_packs_are_left_to_its_own_detail(origins_plan: Plan) -> None:
    summary = render_text(origins_plan).split("\n\n")[1]
    assert "new-team" not in summary


def test_the_origin_is_not_part_of_a_change_s_identity(tmp_path: Path) -> None:
    """Moving a pack into a set changes no plan: saved plans and drift compare changes."""
    direct = tmp_path / "direct.yaml"
    direct.write_text(
        "organization: acme\npolicyGroups:\n  - name: dev\n"
        '    policyPacks: [{name: aws, versionTag: "1.3.0", enforcementLevel: mandatory}]\n'
    )
    via_set = tmp_path / "set.yaml"
    via_set.write_text(
        ORGANIZATION.split("templates:", maxsplit=1)[0] + "policyGroups:\n  - name: dev\n"
        "    policyPacks: [{use: baseline}]\n"
    )
    current = live(live_group("dev", packs=(applied("aws", "1.0.0", "mandatory"),)))
    assert diff(load_desired([direct]), current) == diff(load_desired([via_set]), current)


def test_markdown_names_the_origin_before_the_group_details(origins_plan: Plan) -> None:
    text = render_markdown(origins_plan)
    line = (
        "- packSet baseline: `~ pack aws 1.0.0 → 1.3.0` in 4 groups"
        " (`data`, `dev`, `payments` and 1 more)"
    )
    assert line in text
    assert text.index(line) < text.index("<details>")


def test_markdown_keeps_the_origins_when_group_details_give_way(origins_plan: Plan) -> None:
    full = render_markdown(origins_plan)
    cut = render_markdown(origins_plan, limit=len(full) - 1)
    assert "✂️ Truncated" in cut
    assert "- template prod-like: `+ pack cost 2.0.0 (advisory)` in 2 groups" in cut


def test_markdown_cuts_the_origins_list_before_the_notes_and_removals(origins_plan: Plan) -> None:
    full = render_markdown(origins_plan)
    cut = render_markdown(origins_plan, limit=len(full) // 2)
    assert len(cut) <= len(full) // 2
    assert cut.startswith(full.split("- packSet")[0])
    assert "- …and 1 more shared change\n" in cut


README_GROUPS = """\
organization: acme
packSets:
  baseline:
    - {name: aws-guardrails, versionTag: "1.3.0", enforcementLevel: mandatory}
    - {name: cost-controls, versionTag: "2.0.0"}
templates:
  prod: {policyPacks: [{use: baseline}]}
  staging:
    mode: audit
    policyPacks:
      - {use: baseline}
      - {name: aws-guardrails, versionTag: "1.3.0", enforcementLevel: advisory}
policyGroups:
""" + "".join(
    f"  - {{name: {team}-{env}, extends: {env}, stacks: [{team}/{env}]}}\n"
    for team in ("payments", "web", "data")
    for env in ("prod", "staging")
)


def test_the_readme_shows_the_plan_of_an_upgrade_through_a_set_and_a_template(
    tmp_path: Path,
) -> None:
    published = {
        "aws-guardrails": PublishedPack(
            "aws-guardrails", "AWS Guardrails", {"1.2.0": 1, "1.3.0": 2}
        ),
        "cost-controls": PublishedPack("cost-controls", "Cost Controls", {"2.0.0": 1}),
    }

    def pack(name: str, tag: str, level: str | None = None) -> AppliedPack:
        config = canonical_json(normalise_config({}, level))
        return AppliedPack(name, tag, published[name].versions[tag], name, config)

    before = [
        live_group(
            f"{team}-{env}",
            mode="preventative" if env == "prod" else "audit",
            stacks=stacks(f"{team}/{env}"),
            packs=(
                pack("aws-guardrails", "1.2.0", "mandatory" if env == "prod" else "advisory"),
                pack("cost-controls", "2.0.0"),
            ),
        )
        for team in ("payments", "web", "data")
        for env in ("prod", "staging")
    ]
    path = tmp_path / "groups.yaml"
    path.write_text(README_GROUPS)
    current = live(*before, cat=OrgCatalog(packs=published))
    text = render_text(display_plan(build_plan("acme", diff(load_desired([path]), current))))
    assert f"```text\n{text}```" in (Path(__file__).parents[2] / "README.md").read_text()


def test_markdown_shows_a_set_s_name_as_written(tmp_path: Path) -> None:
    """A set's name is the file's text: Markdown markup in it is shown, not applied."""
    path = tmp_path / "groups.yaml"
    path.write_text(
        'organization: acme\npackSets:\n  "*team*":\n    - {name: aws, versionTag: "1.3.0"}\n'
        'policyGroups:\n  - name: dev\n    policyPacks: [{use: "*team*"}]\n'
    )
    current = live(live_group("dev", packs=(applied("aws", "1.0.0"),)))
    plan = display_plan(build_plan("acme", diff(load_desired([path]), current)))
    assert "  packSet *team*: ~ pack aws" in render_text(plan)
    assert "- packSet \\*team\\*: `~ pack aws" in render_markdown(plan)
