"""Effective enforcement (contract §6.3): what reaches each stack, live and planned, and the
difference between the two."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from hypothesis import assume, given
from hypothesis import strategies as st

from builders import applied, defaults, desired_group, live, live_group, pack_ref, stacks, state
from conftest import Golden
from pgsync.core.impact import (
    EffectiveView,
    Enforcement,
    Impact,
    PackEnforcement,
    impact,
    live_view,
    plan_effect,
    planned_view,
    strictest,
)
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    DesiredState,
    LiveGroup,
    LiveState,
    MatchRule,
    RuleSetting,
    StackRef,
    canonical_json,
)
from pgsync.core.planning import make_plan

WEB_PROD = StackRef("web", "prod")
AWS_MANDATORY = applied("aws", "1.0.0", "mandatory")


def env_rule(env: str) -> MatchRule:
    return match_rule(compile_rules([{"env": env}], "stack") or {}, "stack")


def with_default(current: LiveState, *packs: AppliedPack) -> LiveState:
    """`current` with packs on its default preventative group."""
    groups = dict(current.groups)
    groups["default-policy-group"] = dataclasses.replace(
        groups["default-policy-group"], packs=tuple(packs)
    )
    return dataclasses.replace(current, groups=groups)


def planned(
    desired: DesiredState,
    current: LiveState,
    rule_matches: Mapping[str, frozenset[StackRef]] | None = None,
) -> EffectiveView:
    plan = make_plan(desired, current, safety=False)
    return planned_view(plan, current, rule_matches=rule_matches)


def pack_text(pack: PackEnforcement) -> str:
    policies = "".join(f" {name}={level or 'default'}" for name, level in pack.policies)
    via = ", ".join(pack.groups)
    return f"{pack.name} {pack.version_tag} {pack.level or 'default'}{policies} (from {via})"


def enforcement_text(enforcement: Enforcement) -> list[str]:
    groups = ", ".join(enforcement.groups) or "none"
    audited = ", ".join(enforcement.audited_by) or "none"
    via = " (default fallback)" if enforcement.via_default else ""
    lines = [f"groups: {groups}{via}; audited by: {audited}"]
    lines += [f"  {pack_text(p)}" for p in enforcement.packs] or ["  no packs"]
    return lines


def view_text(view: EffectiveView) -> list[str]:
    lines = []
    for stack, enforcement in view:
        first, *rest = enforcement_text(enforcement)
        lines += [f"{stack}  {first}", *(f"  {line}" for line in rest)]
    return lines


def impact_text(result: Impact) -> list[str]:
    lines = [" ".join(f"{key}={value}" for key, value in result.summary().items())]
    for stack in result.stacks:
        marks = [
            *(f"loses mandatory {name}" for name in stack.loses_mandatory),
            *(f"gains mandatory {name}" for name in stack.gains_mandatory),
            *(["leaves preventative"] if stack.leaves_preventative else []),
            *(["joins preventative"] if stack.joins_preventative else []),
        ]
        if not marks:
            audit = stack.before.audited_by != stack.after.audited_by
            marks = ["audit coverage changes" if audit else "other packs or groups"]
        lines.append(f"{stack.stack}: {'; '.join(marks)}")
        for change in stack.packs:
            before = pack_text(change.before) if change.before else "absent"
            after = pack_text(change.after) if change.after else "absent"
            lines.append(f"  {change.name}: {before} -> {after}")
        before, *_ = enforcement_text(stack.before)
        after, *_ = enforcement_text(stack.after)
        if before != after:
            lines += [f"  before {before}", f"  after  {after}"]
    return lines


def report(current: LiveState, after: EffectiveView) -> str:
    """The deterministic text form the golden files hold: live, planned, impact."""
    before = live_view(current)
    sections = (
        ("live", view_text(before)),
        ("planned", view_text(after)),
        ("impact", impact_text(impact(before, after))),
    )
    return "".join(
        f"## {title}\n" + "".join(f"{line}\n" for line in body) for title, body in sections
    )


# Golden files: the tricky cases of issue 14.


def test_two_groups_with_different_versions_of_one_pack(golden: Golden) -> None:
    current = live(
        live_group("old", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
        live_group("new", stacks=stacks("web/prod"), packs=(applied("aws", "1.3.0", "advisory"),)),
    )
    desired = state(desired_group("old"), desired_group("new", packs=()))
    golden.check("impact-versions.txt", report(current, planned(desired, current)))


def test_stack_moved_between_groups(golden: Golden) -> None:
    current = live(
        live_group("prod", stacks=stacks("web/prod", "web/dev"), packs=(AWS_MANDATORY,)),
        live_group(
            "staging", stacks=stacks("web/stage"), packs=(applied("cost", "2.0.0", "advisory"),)
        ),
    )
    desired = state(
        desired_group("prod", stacks=stacks("web/dev")),
        desired_group("staging", stacks=stacks("web/stage", "web/prod")),
    )
    golden.check("impact-moved.txt", report(current, planned(desired, current)))


def test_rule_member_kept_dropped_and_matched(golden: Golden) -> None:
    current = live(
        live_group(
            "tagged",
            stacks=stacks("web/prod"),
            packs=(AWS_MANDATORY,),
            stack_rule=env_rule("prod"),
            rule_stacks=stacks("svc/s001", "svc/s002"),
        ),
    )
    desired = state(desired_group("tagged", stack_match=RuleSetting(env_rule("production"))))
    after = planned(desired, current, rule_matches={"tagged": stacks("svc/s002", "svc/s003")})
    golden.check("impact-rule.txt", report(current, after))


def test_default_group_fallback(golden: Golden) -> None:
    current = with_default(
        live(
            live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
            cat=dataclasses.replace(live().catalog, stacks=stacks("web/prod", "web/dev")),
        ),
        applied("cost", "2.0.0", "mandatory"),
    )
    desired = state(desired_group("prod", stacks=frozenset()))
    golden.check("impact-default.txt", report(current, planned(desired, current)))


def test_audit_only_stacks(golden: Golden) -> None:
    current = with_default(
        live(
            live_group(
                "scan", mode="audit", stacks=stacks("web/dev", "web/test"), packs=(AWS_MANDATORY,)
            ),
        ),
        applied("cost", "2.0.0", "advisory"),
    )
    desired = state(desired_group("scan", mode="audit", stacks=stacks("web/test")))
    golden.check("impact-audit.txt", report(current, planned(desired, current)))


# One rule each.


def test_newest_version_wins_by_the_org_listing() -> None:
    current = live(
        live_group("a", stacks=stacks("web/prod"), packs=(applied("aws", "1.3.0"),)),
        live_group("b", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
    )
    pack = live_view(current).of(WEB_PROD).pack("aws")
    assert pack is not None
    assert (pack.version_tag, pack.groups) == ("1.3.0", ("a",))


def test_older_versions_levels_do_not_count() -> None:
    current = live(
        live_group("a", stacks=stacks("web/prod"), packs=(applied("aws", "1.3.0", "advisory"),)),
        live_group("b", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
    )
    assert live_view(current).of(WEB_PROD).mandatory == frozenset()


def test_strictest_level_of_groups_with_the_winning_version_counts() -> None:
    current = live(
        live_group("a", stacks=stacks("web/prod"), packs=(applied("aws", "1.0.0", "advisory"),)),
        live_group("b", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
    )
    assert live_view(current).of(WEB_PROD).mandatory == {"aws"}


def test_levels_order_mandatory_remediate_advisory_disabled() -> None:
    assert strictest(["disabled", "advisory"]) == "advisory"
    assert strictest(["advisory", "remediate"]) == "remediate"
    assert strictest(["remediate", "mandatory"]) == "mandatory"


def test_an_unset_level_is_unknown_unless_another_group_says_mandatory() -> None:
    assert strictest(["advisory", None]) is None
    assert strictest(["mandatory", None]) == "mandatory"


def test_remediate_is_not_mandatory_enforcement() -> None:
    current = live(live_group("a", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("a", packs=(pack_ref("aws", "1.0.0", "remediate"),)))
    (stack,) = impact(live_view(current), planned(desired, current)).stacks
    assert stack.loses_mandatory == ("aws",)


def test_per_policy_levels_inherit_all_and_take_the_strictest() -> None:
    strict = applied("aws", "1.0.0", "advisory", **{"s3-public": {"enforcementLevel": "mandatory"}})
    loose = applied("aws", "1.0.0", "disabled", **{"iam-admin": {}})
    current = live(
        live_group("a", stacks=stacks("web/prod"), packs=(strict,)),
        live_group("b", stacks=stacks("web/prod"), packs=(loose,)),
    )
    pack = live_view(current).of(WEB_PROD).pack("aws")
    assert pack is not None
    assert (pack.level, pack.policies) == (
        "advisory",
        (("iam-admin", "advisory"), ("s3-public", "mandatory")),
    )


def test_rule_members_are_held_like_explicit_ones() -> None:
    current = live(
        live_group(
            "tagged",
            packs=(AWS_MANDATORY,),
            stack_rule=env_rule("prod"),
            rule_stacks=stacks("web/prod"),
        )
    )
    assert live_view(current).of(WEB_PROD).groups == ("tagged",)


def test_default_group_applies_only_to_stacks_in_no_other_preventative_group() -> None:
    current = with_default(
        live(live_group("prod", stacks=stacks("web/prod"))), applied("cost", "2.0.0", "mandatory")
    )
    view = live_view(current, stacks=stacks("web/dev"))
    assert (view.of(WEB_PROD).via_default, view.of(WEB_PROD).packs) == (False, ())
    assert view.of(StackRef("web", "dev")).mandatory == {"cost"}


def test_a_stack_the_view_does_not_know_gets_the_default_group() -> None:
    current = with_default(live(), applied("cost", "2.0.0", "mandatory"))
    enforcement = live_view(current).of(WEB_PROD)
    assert (enforcement.via_default, enforcement.mandatory) == (True, frozenset({"cost"}))


def test_default_group_is_found_by_is_org_default_not_by_name() -> None:
    newer = live_group("default-preventative-policy-group", is_default=True, packs=(AWS_MANDATORY,))
    named_like_one = live_group("default-policy-group", packs=(applied("cost", "2.0.0"),))
    current = LiveState("acme", {g.name: g for g in (newer, named_like_one)})
    enforcement = live_view(current, stacks=stacks("web/prod")).of(WEB_PROD)
    assert (enforcement.groups, enforcement.via_default) == (
        ("default-preventative-policy-group",),
        True,
    )


def test_audit_groups_enforce_nothing_and_are_reported_apart() -> None:
    current = live(
        live_group("scan", mode="audit", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,))
    )
    enforcement = live_view(current).of(WEB_PROD)
    assert (enforcement.audited_by, enforcement.mandatory) == (("scan",), frozenset())


def test_a_mandatory_pack_kept_through_another_group_is_not_lost() -> None:
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
        live_group("also", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
    )
    desired = state(desired_group("prod", packs=()), desired_group("also"))
    assert impact(live_view(current), planned(desired, current)) == Impact()


def test_a_stack_moved_to_a_group_with_the_same_pack_is_affected_without_pack_changes() -> None:
    current = live(
        live_group("a", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)),
        live_group("b", packs=(AWS_MANDATORY,)),
    )
    desired = state(
        desired_group("a", stacks=frozenset()), desired_group("b", stacks=stacks("web/prod"))
    )
    (stack,) = impact(live_view(current), planned(desired, current)).stacks
    assert (stack.before.groups, stack.after.groups, stack.packs) == (("a",), ("b",), ())


def test_additive_packs_keep_the_live_packs_the_files_do_not_name() -> None:
    current = live(live_group("a", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(
        desired_group(
            "a",
            packs=(pack_ref("cost", "2.0.0", "advisory"),),
            additive=frozenset({"policyPacks"}),
        )
    )
    packs = planned(desired, current).of(WEB_PROD).packs
    assert [(p.name, p.level) for p in packs] == [("aws", "mandatory"), ("cost", "advisory")]


def test_a_new_rule_matches_nothing_unless_told() -> None:
    current = live(
        live_group(
            "tagged",
            packs=(AWS_MANDATORY,),
            stack_rule=env_rule("prod"),
            rule_stacks=stacks("web/prod"),
        )
    )
    desired = state(desired_group("tagged", stack_match=RuleSetting(env_rule("live"))))
    assert planned(desired, current).of(WEB_PROD).packs == ()


def test_deleted_group_no_longer_holds_its_stacks() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("prod", absent=True))
    result = impact(live_view(current), planned(desired, current))
    assert [(s.stack, s.loses_mandatory, s.leaves_preventative) for s in result.stacks] == [
        (WEB_PROD, ("aws",), True)
    ]


def test_enforcement_json_is_the_contract_shape() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    assert live_view(current).of(WEB_PROD).to_json() == {
        "packs": {"aws": {"versionTag": "1.0.0", "enforcementLevel": "mandatory"}},
        "groups": ["prod"],
        "viaDefault": False,
        "auditedBy": [],
    }


# Properties.

STACK_NAMES = st.sampled_from(["web/prod", "web/dev", "svc/a", "svc/b"])
PACKS = st.builds(
    applied,
    st.sampled_from(["aws"]),
    st.sampled_from(["1.0.0", "1.3.0"]),
    st.sampled_from([None, "disabled", "advisory", "remediate", "mandatory"]),
) | st.builds(
    applied, st.just("cost"), st.just("2.0.0"), st.sampled_from([None, "advisory", "mandatory"])
)


@st.composite
def live_states(draw: st.DrawFn) -> LiveState:
    groups: dict[str, LiveGroup] = dict(defaults())
    default = groups["default-policy-group"]
    groups[default.name] = dataclasses.replace(
        default, packs=tuple({p.name: p for p in draw(st.lists(PACKS, max_size=2))}.values())
    )
    for index in range(draw(st.integers(0, 4))):
        packs = {p.name: p for p in draw(st.lists(PACKS, max_size=2))}
        groups[f"g{index}"] = live_group(
            f"g{index}",
            mode=draw(st.sampled_from(["preventative", "audit"])),
            stacks=stacks(*draw(st.sets(STACK_NAMES, max_size=3))),
            rule_stacks=stacks(*draw(st.sets(STACK_NAMES, max_size=2))),
            packs=tuple(packs.values()),
        )
    known = stacks(*draw(st.sets(STACK_NAMES)))
    return LiveState("acme", groups, dataclasses.replace(live().catalog, stacks=known))


@given(live_states())
def test_a_state_against_itself_has_no_impact(current: LiveState) -> None:
    assert impact(live_view(current), live_view(current)) == Impact()


@given(live_states(), st.data())
def test_adding_a_mandatory_pack_never_loses_mandatory_enforcement(
    current: LiveState, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(current.groups)))
    group = current.groups[name]
    pack = data.draw(PACKS)
    assume(pack.name not in {p.name for p in group.packs})
    mandatory = dataclasses.replace(
        pack, config_json=canonical_json({"all": {"enforcementLevel": "mandatory"}})
    )
    grown = dataclasses.replace(group, packs=(*group.packs, mandatory))
    after = dataclasses.replace(current, groups={**current.groups, name: grown})
    result = impact(live_view(current), live_view(after))
    assert not any(s.loses_mandatory for s in result.stacks)


# A plan's effect, as make_plan keeps it.


def test_a_plan_keeps_the_impact_of_its_changes() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    plan = make_plan(state(desired_group("prod", packs=())), current)
    assert plan.impact is not None
    assert [(s.stack, s.loses_mandatory) for s in plan.impact.stacks] == [(WEB_PROD, ("aws",))]


def test_a_plan_without_changes_affects_no_stack() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("prod", stacks=stacks("web/prod")))
    assert make_plan(desired, current).impact == Impact()


def test_a_rename_alone_affects_no_stack() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("production", previously=("prod",)))
    assert make_plan(desired, current).impact == Impact()


def test_a_renamed_group_that_changes_shows_its_stacks_under_both_names() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("production", previously=("prod",), packs=()))
    impact_of = make_plan(desired, current).impact
    assert impact_of is not None
    (stack,) = impact_of.stacks
    assert (stack.before.groups, stack.after.groups) == (("prod",), ("production",))


def test_undeclared_groups_not_read_are_counted_when_stacks_are_affected() -> None:
    current = dataclasses.replace(
        live(live_group("prod", packs=(AWS_MANDATORY,))), unread=frozenset({"other"})
    )
    plan = make_plan(state(desired_group("prod", stacks=stacks("web/prod"))), current)
    assert plan.impact is not None and plan.impact.groups_not_read == 1


def test_plan_effect_names_the_groups_before_and_after_apply() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("production", previously=("prod",), stacks=frozenset()))
    effect = plan_effect(make_plan(desired, current, safety=False).groups, current)
    assert (effect.before["prod"].stacks, effect.after["production"].stacks) == (
        stacks("web/prod"),
        frozenset(),
    )


@st.composite
def changes_of(draw: st.DrawFn, current: LiveState) -> DesiredState:
    """Some of `current`'s groups declared with other stacks or packs (the rest undeclared)."""
    known = sorted(str(s) for s in current.catalog.stacks or ())
    groups = []
    for name, group in sorted(current.groups.items()):
        if (group.mode == "audit" and group.is_default) or not draw(st.booleans()):
            continue
        packs = tuple(
            pack_ref(p.name, p.version_tag, p.config.get("all", {}).get("enforcementLevel"))
            for p in {p.name: p for p in draw(st.lists(PACKS, max_size=2))}.values()
        )
        if group.is_default:
            # A default group holds every stack in no other group: only its packs are set.
            groups.append(DesiredGroup(name, None, None, packs=packs))
            continue
        listed = stacks(*draw(st.sets(st.sampled_from(known)))) if known else None
        groups.append(desired_group(name, mode=group.mode, stacks=listed, packs=packs))
    return state(*groups)


@given(st.data())
def test_a_plans_effect_is_the_impact_of_the_whole_views(data: st.DataObject) -> None:
    current = data.draw(live_states())
    desired = data.draw(changes_of(current))
    plan = make_plan(desired, current, safety=False)
    whole = impact(live_view(current), planned_view(plan, current))
    assert plan_effect(plan.groups, current).impact == whole


def test_a_plan_names_the_groups_whose_new_rule_it_cannot_count() -> None:
    current = live(live_group("tagged", stacks=stacks("web/prod"), packs=(AWS_MANDATORY,)))
    desired = state(desired_group("tagged", stack_match=RuleSetting(env_rule("prod"))))
    assert make_plan(desired, current).impact == Impact(unknown_rules=("tagged",))
