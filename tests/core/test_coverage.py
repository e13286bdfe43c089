"""The coverage report's content (contract §6.3): every stack live and with the files, the
default-only and unprotected stacks, the matrix's packs, and each group's card."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from builders import applied, desired_group, live, live_group, pack_ref, stacks, state
from pgsync.core.coverage import SIDES, Counts, CoverageReport, coverage_report, enforces
from pgsync.core.impact import PackEnforcement
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import DesiredState, LiveState, RuleSetting, StackRef
from pgsync.core.planning import make_plan

WEB_PROD, WEB_DEV, ML_DEV = StackRef("web", "prod"), StackRef("web", "dev"), StackRef("ml", "dev")


def with_default(current: LiveState, *default_stacks: str) -> LiveState:
    """`current` with the default group holding `default_stacks` and the `cost` pack."""
    groups = dict(current.groups)
    groups["default-policy-group"] = dataclasses.replace(
        groups["default-policy-group"],
        stacks=stacks(*default_stacks),
        packs=(applied("cost", "2.0.0", "advisory"),),
    )
    return dataclasses.replace(current, groups=groups)


def built(
    desired: DesiredState,
    current: LiveState,
    rule_matches: dict[str, frozenset[StackRef]] | None = None,
) -> CoverageReport:
    return coverage_report(make_plan(desired, current, safety=False), current, rule_matches)


PROD = live_group("prod", stacks=stacks("web/prod"), packs=(applied("aws", "1.0.0", "mandatory"),))
ORG = with_default(live(PROD), "web/dev", "ml/dev")


def row(report: CoverageReport, stack: StackRef) -> tuple[PackEnforcement | None, ...]:
    found = next(r for r in report.stacks if r.stack == stack)
    return found.live.pack("aws"), found.desired.pack("aws")


def test_every_stack_of_either_side_is_a_row_by_name() -> None:
    report = built(state(), ORG)
    assert [str(r.stack) for r in report.stacks] == ["ml/dev", "web/dev", "web/prod"]
    assert not report.changed


def test_a_stack_moved_into_a_group_leaves_the_default_only_list_with_the_files() -> None:
    moved = desired_group(
        "prod", stacks=stacks("web/prod", "ml/dev"), packs=(pack_ref("aws", "1.0.0", "mandatory"),)
    )
    report = built(state(moved), ORG)
    flagged = {
        (str(r.stack), r.live.via_default, r.desired.via_default) for r in report.default_only()
    }
    assert flagged == {("ml/dev", True, False), ("web/dev", True, True)}
    assert [str(r.stack) for r in report.changed] == ["ml/dev"]


def test_a_stack_left_by_every_group_falls_back_to_the_default_group() -> None:
    emptied = desired_group("prod", stacks=frozenset())
    report = built(state(emptied), ORG)
    web = next(r for r in report.stacks if r.stack == WEB_PROD)
    assert (web.live.via_default, web.desired.via_default) == (False, True)
    assert web.desired.pack("cost") is not None and web.desired.pack("aws") is None


def test_a_preventative_group_without_packs_leaves_its_stacks_unprotected() -> None:
    bare = live_group("bare", stacks=stacks("ml/dev"))
    report = built(state(), with_default(live(PROD, bare), "web/dev"))
    assert [str(r.stack) for r in report.unprotected()] == ["ml/dev"]


def test_a_disabled_pack_protects_nothing_unless_a_policy_is_enabled() -> None:
    off = applied("aws", "1.0.0", "disabled")
    one_on = applied("aws", "1.0.0", "disabled", **{"s3-public": {"enforcementLevel": "advisory"}})
    current = live(
        live_group("off", stacks=stacks("web/prod"), packs=(off,)),
        live_group("one-on", stacks=stacks("web/dev"), packs=(one_on,)),
    )
    report = built(state(), current)
    assert [str(r.stack) for r in report.unprotected()] == ["web/prod"]


def test_a_pack_with_no_level_set_protects() -> None:
    unset = PackEnforcement("aws", "1.0.0", 1, None)
    assert enforces(unset)
    assert not enforces(dataclasses.replace(unset, level="disabled"))


def test_the_newest_version_wins_and_both_versions_are_listed() -> None:
    upgraded = desired_group(
        "prod", stacks=stacks("web/prod"), packs=(pack_ref("aws", "1.3.0", "mandatory"),)
    )
    report = built(state(upgraded), ORG)
    before, after = row(report, WEB_PROD)
    assert before is not None and after is not None
    assert (before.version_tag, after.version_tag) == ("1.0.0", "1.3.0")
    assert report.versions() == {"aws": frozenset({"1.0.0", "1.3.0"}), "cost": {"2.0.0"}}


def test_the_matrix_columns_are_the_packs_that_reach_a_stack_on_either_side() -> None:
    unused = live_group("nobody", packs=(applied("aws", "1.3.0"),))
    report = built(state(desired_group("prod", absent=True)), live(PROD, unused))
    assert report.packs == ("aws",)


def test_counts_per_side() -> None:
    moved = desired_group("prod", stacks=stacks("web/prod", "ml/dev"))
    report = built(state(moved), ORG)
    assert report.counts("live") == Counts(
        stacks=3, preventative=1, default_only=2, unprotected=0, audited=0, mandatory=1
    )
    assert report.counts("desired") == Counts(
        stacks=3, preventative=2, default_only=1, unprotected=0, audited=0, mandatory=2
    )


def test_an_audit_group_audits_and_protects_nothing() -> None:
    audit = live_group(
        "watch", mode="audit", stacks=stacks("ml/dev"), packs=(applied("aws", "1.0.0"),)
    )
    report = built(state(), with_default(live(PROD, audit), "web/dev"))
    ml = next(r for r in report.stacks if r.stack == ML_DEV)
    assert ml.live.audited_by == ("watch",) and ml.live.via_default
    assert ml.live.pack("aws") is None


def test_a_new_rule_counts_what_it_matches() -> None:
    rule = match_rule(compile_rules([{"env": "dev"}], "stack") or {}, "stack")
    tagged = desired_group(
        "tagged", stack_match=RuleSetting(rule), packs=(pack_ref("aws", "1.3.0", "advisory"),)
    )
    report = built(state(tagged), ORG, {"tagged": stacks("web/dev")})
    dev = next(r for r in report.stacks if r.stack == WEB_DEV)
    assert dev.desired.groups == ("tagged",)
    card = next(c for c in report.groups if c.name == "tagged")
    assert (card.action, card.live) == ("create", None)
    assert card.desired is not None and card.desired.stacks == 1


def test_a_card_describes_its_stack_rule_live_and_with_the_files() -> None:
    prod_rule, dev_rule = (
        match_rule(compile_rules([{"env": env}], "stack") or {}, "stack") for env in ("prod", "dev")
    )
    tagged = live_group("tagged", stack_rule=prod_rule, rule_stacks=stacks("web/prod"))
    changed = desired_group("tagged", stack_match=RuleSetting(dev_rule))
    card = next(c for c in built(state(changed), live(tagged)).groups if c.name == "tagged")
    assert card.live is not None and card.desired is not None
    assert (card.live.stack_rule, card.desired.stack_rule) == ("env = prod", "env = dev")


def test_cards_say_the_plan_renames_and_deletes() -> None:
    renamed = desired_group(
        "production",
        previously=("prod",),
        stacks=stacks("web/prod"),
        packs=(pack_ref("aws", "1.0.0", "mandatory"),),
    )
    legacy = live_group("legacy", stacks=stacks("ml/dev"))
    gone = desired_group("legacy", absent=True)
    report = built(state(renamed, gone), with_default(live(PROD, legacy), "web/dev"))
    cards = {c.name: c for c in report.groups}
    assert cards["production"].renamed and cards["production"].live_name == "prod"
    assert (cards["legacy"].action, cards["legacy"].desired) == ("delete", None)
    assert cards["default-policy-group"].is_default
    assert cards["default-policy-group"].action == "unmanaged"


def test_a_card_shows_the_groups_own_packs_not_the_winning_ones() -> None:
    newer = live_group(
        "newer", stacks=stacks("web/prod"), packs=(applied("aws", "1.3.0", "advisory"),)
    )
    report = built(state(), live(PROD, newer))
    prod = next(c for c in report.groups if c.name == "prod")
    assert prod.live is not None
    assert [(p.version_tag, p.level) for p in prod.live.packs] == [("1.0.0", "mandatory")]
    before, _ = row(report, WEB_PROD)
    assert before is not None and (before.version_tag, before.level) == ("1.3.0", "advisory")


def test_a_card_counts_the_accounts_of_an_audit_group() -> None:
    cloud = live_group("cloud", "accounts", accounts=frozenset({"aws-prod"}))
    more = desired_group("cloud", "accounts", accounts=frozenset({"aws-prod", "gcp-data"}))
    card = next(c for c in built(state(more), live(cloud)).groups if c.name == "cloud")
    assert card.live is not None and card.desired is not None
    assert (card.live.accounts, card.desired.accounts) == (1, 2)


MEMBERS = st.lists(
    st.sets(st.sampled_from(["a/1", "a/2", "b/1", "b/2", "c/1"]), max_size=5), max_size=4
)


@given(MEMBERS, MEMBERS)
def test_with_a_default_group_every_stack_is_in_a_group_of_its_own_or_default_only(
    live_members: list[set[str]], desired_members: list[set[str]]
) -> None:
    current = live(
        *(live_group(f"g{i}", stacks=stacks(*m)) for i, m in enumerate(live_members)),
    )
    desired = state(
        *(desired_group(f"g{i}", stacks=stacks(*m)) for i, m in enumerate(desired_members))
    )
    report = built(desired, current)
    for side in SIDES:
        counts = report.counts(side)
        assert counts.preventative + counts.default_only == counts.stacks


def test_a_stack_in_no_group_is_a_row_when_the_org_lists_it() -> None:
    lone = StackRef("ops", "tools")
    report = coverage_report(make_plan(state(), ORG, safety=False), ORG, stacks=[lone])
    found = next(r for r in report.stacks if r.stack == lone)
    assert (found.live.via_default, found.live.pack("cost") is not None) == (True, True)


def test_a_pack_kept_through_another_group_does_not_change_the_stack() -> None:
    also = live_group(
        "also", stacks=stacks("web/prod"), packs=(applied("aws", "1.0.0", "mandatory"),)
    )
    without = desired_group("prod", stacks=stacks("web/prod"), packs=())
    carried = desired_group(
        "also", stacks=stacks("web/prod"), packs=(pack_ref("aws", "1.0.0", "mandatory"),)
    )
    report = built(state(without, carried), with_default(live(PROD, also), "web/dev", "ml/dev"))
    assert report.changed == ()


def test_a_rename_alone_changes_no_stack() -> None:
    renamed = desired_group(
        "production",
        stacks=stacks("web/prod"),
        packs=(pack_ref("aws", "1.0.0", "mandatory"),),
        previously=("prod",),
    )
    assert built(state(renamed), ORG).changed == ()
