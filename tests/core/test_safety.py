"""Safety rules: what each rule flags, with stable ids, and what an allow does."""

from __future__ import annotations

import dataclasses

from builders import applied, catalog, desired_group, live, live_group, pack_ref, stacks, state
from pgsync.core.diff import diff
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    DesiredState,
    LiveState,
    RuleSetting,
    SafetySettings,
)
from pgsync.core.plan import Finding, build_plan
from pgsync.core.safety import could_unprotect, evaluate

MANDATORY = (applied("aws", "1.0.0", "mandatory"),)


def findings(
    desired: DesiredState,
    current: LiveState,
    settings: SafetySettings | None = None,
    allow: tuple[str, ...] = (),
) -> dict[str, Finding]:
    plan = build_plan("acme", diff(desired, current))
    return {f.id: f for f in evaluate(plan.groups, current, settings or SafetySettings(), allow)}


def test_removing_a_mandatory_pack_from_a_group_with_members_is_blocked() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    found = findings(state(desired_group("prod", packs=())), current)
    assert found["mandatory-loss:prod:aws"].blocked
    assert found["mandatory-loss:prod:aws"].reason == ("1 stack loses mandatory 'aws' (web/prod)")


def test_downgrade_from_mandatory_to_advisory_is_blocked() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    desired = state(desired_group("prod", packs=(pack_ref("aws", "1.0.0", "advisory"),)))
    assert findings(desired, current)["mandatory-loss:prod:aws"].blocked


def test_pack_still_mandatory_through_another_group_is_not_a_loss() -> None:
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY),
        live_group("also", stacks=stacks("web/prod"), packs=MANDATORY),
    )
    desired = state(desired_group("prod", packs=()), desired_group("also"))
    assert not any(i.startswith("mandatory-loss") for i in findings(desired, current))


def test_upgrade_keeping_mandatory_is_not_flagged() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    desired = state(desired_group("prod", packs=(pack_ref("aws", "1.3.0", "mandatory"),)))
    assert findings(desired, current) == {}


def test_removing_a_stack_from_its_only_group_is_flagged_leave_groups() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod", "web/dev")))
    found = findings(state(desired_group("prod", stacks=stacks("web/prod"))), current)
    assert found["unprotected:prod"].rule == "leave-groups"
    assert found["unprotected:prod"].blocked


def test_max_unprotected_threshold_lets_small_losses_through() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod", "web/dev")))
    desired = state(desired_group("prod", stacks=stacks("web/prod")))
    found = findings(desired, current, SafetySettings(max_unprotected=1))
    assert not found["unprotected:prod"].blocked


def test_deletes_over_the_percentage_are_blocked_and_ids_are_stable() -> None:
    current = live(*(live_group(f"g{i}") for i in range(10)))
    desired = state(
        *(desired_group(f"g{i}") for i in range(8)),
        desired_group("g8", absent=True),
        desired_group("g9", absent=True),
    )
    found = findings(desired, current)
    assert found["delete:g8"].blocked and found["delete:g9"].blocked
    assert found["delete:g8"].reason == (
        "2 of 10 managed groups (20%) would be deleted; the limit is 10%"
    )
    assert not findings(desired, current, SafetySettings(max_delete_percent=20))[
        "delete:g8"
    ].blocked


def test_any_change_to_a_default_group_is_gated() -> None:
    desired = state(desired_group("default-policy-group", packs=(pack_ref("aws", "1.0.0"),)))
    found = findings(desired, live())
    assert found["default-group:default-policy-group"].blocked


def test_replace_is_gated_and_says_when_it_stops_blocking_deployments() -> None:
    current = live(live_group("prod", mode="preventative"))
    found = findings(state(desired_group("prod", mode="audit")), current)
    assert found["replace:prod"].blocked
    assert found["replace:prod"].reason.endswith("violations will no longer block deployments")


def test_allow_acknowledges_exactly_that_id() -> None:
    current = live(live_group("prod", mode="preventative"))
    found = findings(state(desired_group("prod", mode="audit")), current, allow=("replace:prod",))
    assert not found["replace:prod"].blocked and found["replace:prod"].allowed


def test_additive_changes_raise_no_findings() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    desired = state(
        desired_group("prod", stacks=stacks("web/prod", "web/dev")),
        desired_group("new", stacks=stacks("web/x")),
    )
    assert findings(desired, current) == {}


def test_only_plans_that_take_something_away_need_the_rest_of_the_org() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod")))
    adding = build_plan(
        "acme", diff(state(desired_group("prod", stacks=stacks("web/prod", "w/2"))), current)
    )
    removing = build_plan("acme", diff(state(desired_group("prod", stacks=frozenset())), current))
    assert not could_unprotect(adding.groups)
    assert could_unprotect(removing.groups)


ENV_PROD = match_rule(compile_rules([{"env": "prod"}], "stack") or {}, "stack")


def test_a_stack_off_the_list_but_matched_by_the_rule_is_not_unprotected() -> None:
    current = live(
        live_group(
            "prod", stacks=stacks("web/prod"), stack_rule=ENV_PROD, rule_stacks=stacks("web/prod")
        )
    )
    found = findings(state(desired_group("prod", stacks=stacks())), current)
    assert "unprotected:prod" not in found


def test_removing_a_rule_that_alone_holds_stacks_is_flagged_leave_groups() -> None:
    current = live(live_group("prod", stack_rule=ENV_PROD, rule_stacks=stacks("web/prod")))
    desired = state(desired_group("prod", stack_match=RuleSetting(None)))
    assert findings(desired, current)["unprotected:prod"].reason == (
        "1 stack leaves every non-default group (web/prod)"
    )


def test_removing_a_rule_whose_stacks_another_group_holds_is_not_flagged() -> None:
    current = live(
        live_group("ruled", stack_rule=ENV_PROD, rule_stacks=stacks("web/prod")),
        live_group("by hand", stacks=stacks("web/prod")),
    )
    desired = state(desired_group("ruled", stack_match=RuleSetting(None)))
    assert findings(desired, current) == {}


def test_a_rule_change_could_unprotect_so_undeclared_groups_are_read() -> None:
    current = live(live_group("ruled", stack_rule=ENV_PROD, rule_stacks=stacks("web/prod")))
    desired = state(desired_group("ruled", stack_match=RuleSetting(None)))
    assert could_unprotect(build_plan("acme", diff(desired, current)).groups)


def test_replacing_an_audit_group_by_a_preventative_one_lets_its_accounts_go() -> None:
    current = live(live_group("cloud", "accounts", accounts=frozenset({"aws-prod"})))
    desired = state(desired_group("cloud", None, "preventative"))
    found = findings(desired, current)
    assert found["unprotected:cloud"].reason == (
        "1 account leaves every non-default group (aws-prod)"
    )
    assert found["replace:cloud"].blocked


def test_a_default_group_is_known_by_is_org_default_not_by_name() -> None:
    current = live(live_group("Org Default", is_default=True, stacks=stacks("web/prod")))
    desired = state(DesiredGroup("Org Default", None, None, packs=(pack_ref("aws", "1.0.0"),)))
    assert list(findings(desired, current)) == ["default-group:Org Default"]


# The effective view (contract §6.3): each stack is judged by what reaches it through all
# its groups.


def with_default(current: LiveState, *packs: AppliedPack) -> LiveState:
    """`current` with packs on its default preventative group."""
    default = live_group("default-policy-group", is_default=True, packs=packs)
    return dataclasses.replace(current, groups={**current.groups, default.name: default})


def test_a_stack_leaving_for_the_default_group_that_enforces_the_pack_keeps_it() -> None:
    current = with_default(
        live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY)), *MANDATORY
    )
    found = findings(state(desired_group("prod", stacks=frozenset())), current)
    assert sorted(found) == ["unprotected:prod"]


def test_joining_a_group_without_the_default_groups_mandatory_pack_loses_it() -> None:
    current = with_default(
        live(live_group("prod"), cat=catalog(("web/prod",))), applied("cost", "2.0.0", "mandatory")
    )
    found = findings(state(desired_group("prod", stacks=stacks("web/prod"))), current)
    assert found["mandatory-loss:prod:cost"].reason == "1 stack loses mandatory 'cost' (web/prod)"


def test_a_newer_advisory_version_in_another_group_outranks_a_mandatory_one() -> None:
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY),
        live_group("extra", stacks=stacks("web/prod")),
    )
    desired = state(desired_group("extra", packs=(pack_ref("aws", "1.3.0", "advisory"),)))
    assert list(findings(desired, current)) == ["mandatory-loss:extra:aws"]


def test_removing_a_mandatory_version_that_a_newer_one_outranks_is_not_a_loss() -> None:
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY),
        live_group(
            "newer", stacks=stacks("web/prod"), packs=(applied("aws", "1.3.0", "advisory"),)
        ),
    )
    assert findings(state(desired_group("prod", packs=())), current) == {}


def test_a_rule_member_loses_the_pack_its_group_drops() -> None:
    current = live(
        live_group("ruled", stack_rule=ENV_PROD, rule_stacks=stacks("svc/a"), packs=MANDATORY)
    )
    found = findings(state(desired_group("ruled", packs=())), current)
    assert found["mandatory-loss:ruled:aws"].reason == "1 stack loses mandatory 'aws' (svc/a)"


def test_a_stack_only_audited_loses_no_mandatory_enforcement() -> None:
    current = live(live_group("scan", mode="audit", stacks=stacks("web/prod"), packs=MANDATORY))
    assert findings(state(desired_group("scan", mode="audit", packs=())), current) == {}


def test_a_preventative_group_replaced_by_an_audit_one_is_gated_by_the_replace_alone() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    desired = state(desired_group("prod", mode="audit", stacks=stacks("web/prod")))
    assert list(findings(desired, current)) == ["replace:prod"]


def test_a_rename_alone_raises_no_finding() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY))
    desired = state(desired_group("production", previously=("prod",)))
    assert findings(desired, current) == {}


def test_a_pack_added_below_mandatory_to_a_preventative_group_could_unprotect() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod")), live_group("scan", mode="audit"))

    def could(group: DesiredGroup) -> bool:
        return could_unprotect(build_plan("acme", diff(state(group), current)).groups)

    assert could(desired_group("prod", packs=(pack_ref("aws", "1.3.0", "advisory"),)))
    assert not could(desired_group("prod", packs=(pack_ref("aws", "1.3.0", "mandatory"),)))
    assert not could(desired_group("scan", mode="audit", packs=(pack_ref("aws", "1.3.0"),)))
