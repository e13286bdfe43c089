"""One declared group, parsed from YAML, as a DesiredGroup; its own errors at file:line:col."""

from __future__ import annotations

import textwrap

from pgsync.core.errors import Location, Problem
from pgsync.core.model import DesiredGroup, StackRef
from pgsync.load.desired_group import build_group
from pgsync.load.packconfig import SecretRules
from pgsync.load.yamlnodes import load_yaml

FILE = "groups.yaml"


def built(groups: str, index: int = 0) -> tuple[DesiredGroup, list[str]]:
    """The group at `index` of a `policyGroups:` list written in YAML, and its problems."""
    text = "policyGroups:\n" + textwrap.indent(textwrap.dedent(groups), "  ")
    doc = load_yaml(text.encode(), FILE)
    problems: list[Problem] = []
    group = build_group(doc, index, doc.value["policyGroups"][index], problems, SecretRules())
    return group, [str(problem) for problem in problems]


def group_of(groups: str) -> DesiredGroup:
    group, problems = built(groups)
    assert problems == []
    return group


def problems_of(groups: str) -> list[str]:
    return built(groups)[1]


# --- the model value -------------------------------------------------------------------------


def test_a_group_is_located_at_its_name() -> None:
    group = group_of("""\
        - name: first
        - name: second
        """)
    assert group.location == Location(FILE, 2, 11)
    assert built("- name: first\n- name: second\n", index=1)[0].location == Location(FILE, 3, 11)


def test_fields_left_out_are_none_not_empty() -> None:
    group = group_of("- name: g\n")
    assert (group.entity_type, group.mode, group.stacks, group.accounts, group.packs) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (group.stack_match, group.account_match, group.agent_pool_id) == (None, None, None)


def test_an_empty_list_declares_no_members() -> None:
    group = group_of("- name: g\n  stacks: []\n  policyPacks: []\n")
    assert (group.stacks, group.packs) == (frozenset(), ())


def test_the_fields_are_taken_as_written() -> None:
    group = group_of("""\
        - name: g
          entityType: stacks
          mode: audit
          previously: [old, older]
          agentPoolId: pool-1
        """)
    assert (group.entity_type, group.mode, group.previously, group.agent_pool_id) == (
        "stacks",
        "audit",
        ("old", "older"),
        "pool-1",
    )
    assert not group.absent


def test_state_absent_marks_the_group_for_deletion() -> None:
    assert group_of("- name: g\n  state: absent\n").absent


def test_stacks_are_read_from_either_spelling() -> None:
    group = group_of("""\
        - name: g
          stacks:
            - web/prod
            - {routingProject: payments, name: prod}
        """)
    assert group.stacks == frozenset({StackRef("web", "prod"), StackRef("payments", "prod")})


def test_each_member_is_located_where_it_was_written() -> None:
    group = group_of("""\
        - name: g
          mode: audit
          stacks: [web/prod]
          accounts:
            - aws-prod
        """)
    assert dict(group.item_locations) == {
        "web/prod": Location(FILE, 4, 14),
        "aws-prod": Location(FILE, 6, 9),
    }


def test_packs_are_sorted_by_name_and_each_located_at_its_name() -> None:
    group = group_of("""\
        - name: g
          policyPacks:
            - name: cost
              versionTag: 2.0.0
            - name: aws
              versionTag: 1.0.0
              environments: [prod]
              config: {all: mandatory}
        """)
    assert group.packs is not None
    aws, cost = group.packs
    assert (aws.name, aws.version_tag, aws.environments, aws.location) == (
        "aws",
        "1.0.0",
        ("prod",),
        Location(FILE, 6, 15),
    )
    assert aws.config_json == '{"all":{"enforcementLevel":"mandatory"}}'
    assert (cost.name, cost.config_json, cost.location) == ("cost", "{}", Location(FILE, 4, 15))


def test_a_rule_list_becomes_a_match_rule_located_at_its_key() -> None:
    group = group_of("- name: g\n  stackMatch:\n    - env: prod\n")
    assert group.stack_match is not None and group.stack_match.rule is not None
    assert (group.stack_match.rule.entity, group.stack_match.rule.key) == (
        "stack",
        '[{"env":"prod"}]',
    )
    assert group.stack_match.location == Location(FILE, 3, 5)


def test_an_empty_rule_list_asks_for_no_rule() -> None:
    group = group_of("- name: g\n  mode: audit\n  accountMatch: []\n")
    assert group.account_match is not None
    assert (group.account_match.rule, group.account_match.location) == (None, Location(FILE, 4, 5))


def test_an_api_expression_is_taken_as_the_rule() -> None:
    group = group_of("""\
        - name: g
          stackMatch:
            expression: {__type: PermissionLiteralExpressionBool, value: true}
        """)
    assert group.stack_match is not None and group.stack_match.rule is not None
    assert group.stack_match.rule.expression_json == (
        '{"__type":"PermissionLiteralExpressionBool","value":true}'
    )


# --- the group's own rules, each at file:line:col ---------------------------------------------


def test_a_reserved_name_is_refused_at_the_name() -> None:
    assert problems_of("- name: metadata\n") == [
        f"{FILE}:2:11: 'metadata' cannot be a group name: it would shadow the API's metadata route"
    ]


def test_a_reserved_former_name_is_refused_at_that_list_item() -> None:
    assert problems_of("- name: g\n  previously: [old, metadata]\n") == [
        f"{FILE}:3:23: 'metadata' cannot be a group name: it would shadow the API's metadata route"
    ]


def test_a_default_group_cannot_be_a_former_name() -> None:
    assert problems_of("- name: g\n  previously:\n    - default-audit-policy-group\n") == [
        f"{FILE}:4:9: 'default-audit-policy-group' is a default group, which cannot be renamed"
    ]


def test_a_default_group_has_no_former_names() -> None:
    assert problems_of("- name: default-policy-group\n  previously: [old]\n") == [
        f"{FILE}:3:5: default-policy-group cannot be renamed, so it has no former names"
    ]


def test_a_default_group_keeps_its_mode_and_entity_type() -> None:
    assert problems_of("""\
        - name: default-accounts-policy-group
          mode: preventative
          entityType: stacks
        """) == [
        f"{FILE}:3:11: default-accounts-policy-group always has mode audit",
        f"{FILE}:4:17: default-accounts-policy-group always has entityType accounts",
    ]


def test_a_default_group_cannot_be_absent() -> None:
    assert problems_of("- name: default-preventative-policy-group\n  state: absent\n") == [
        f"{FILE}:3:12: default-preventative-policy-group is a default group and cannot be deleted"
    ]


def test_a_default_audit_group_may_hold_accounts_without_saying_its_mode() -> None:
    assert problems_of("- name: default-accounts-policy-group\n  accounts: [aws-prod]\n") == []


def test_an_accounts_group_cannot_be_preventative() -> None:
    assert problems_of("- name: g\n  entityType: accounts\n  mode: preventative\n") == [
        f"{FILE}:4:11: an accounts group cannot be preventative (a preventative group holds"
        " stacks only): use mode: audit, or leave out entityType"
    ]


def test_accounts_and_account_rules_need_an_audit_group_at_their_keys() -> None:
    assert problems_of("""\
        - name: g
          accounts: [aws-prod]
          accountMatch:
            - env: prod
        """) == [
        f"{FILE}:3:5: 'accounts' needs mode: audit (a preventative group holds stacks only)",
        f"{FILE}:4:5: 'accountMatch' needs mode: audit (a preventative group holds stacks only)",
    ]


def test_a_preventative_group_may_ask_for_no_account_rule() -> None:
    assert problems_of("- name: g\n  accountMatch: []\n") == []


def test_an_accounts_group_is_audit_by_default_and_may_hold_accounts() -> None:
    assert problems_of("- name: g\n  entityType: accounts\n  accounts: [aws-prod]\n") == []


def test_a_stack_written_twice_in_two_spellings_is_refused_at_the_second() -> None:
    group, problems = built("""\
        - name: g
          stacks:
            - web/prod
            - {routingProject: web, name: prod}
        """)
    assert problems == [f"{FILE}:5:9: stack 'web/prod' is listed twice (first at line 4, column 9)"]
    assert group.stacks == frozenset({StackRef("web", "prod")})


def test_an_account_written_twice_is_refused_at_the_second() -> None:
    assert problems_of("- name: g\n  mode: audit\n  accounts: [a, b, a]\n") == [
        f"{FILE}:4:22: account 'a' is listed twice (first at line 4, column 16)"
    ]


def test_a_pack_listed_twice_is_refused_at_the_second_and_the_first_kept() -> None:
    group, problems = built("""\
        - name: g
          policyPacks:
            - {name: aws, versionTag: 1.0.0}
            - {name: aws, versionTag: 1.3.0}
        """)
    assert problems == [f"{FILE}:5:16: pack 'aws' is listed twice (first at line 4, column 16)"]
    assert group.packs is not None
    assert [(p.name, p.version_tag) for p in group.packs] == [("aws", "1.0.0")]


def test_a_broken_rule_list_is_refused_at_the_condition_and_sets_no_rule() -> None:
    group, problems = built("- name: g\n  stackMatch:\n    - env: {bogus: 1}\n")
    assert problems == [
        f"{FILE}:4:14: the condition on tag env takes exactly one of `not: VALUE` or"
        " `exists: true|false` (found: bogus)"
    ]
    assert group.stack_match is None


def test_a_broken_expression_is_refused_at_its_node_and_sets_no_rule() -> None:
    group, problems = built("- name: g\n  stackMatch:\n    expression: {__type: Nope}\n")
    assert problems == [
        f"{FILE}:4:28: Nope cannot stand here: expected a boolean node (PermissionExpressionOr,"
        " And, Not, Equal, HasTag, In or PermissionLiteralExpressionBool)"
    ]
    assert group.stack_match is None


def test_every_problem_of_a_group_is_reported_at_once() -> None:
    problems = problems_of("""\
        - name: metadata
          accounts: [a, a]
          policyPacks:
            - {name: aws, versionTag: 1.0.0}
            - {name: aws, versionTag: 1.0.0}
        """)
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{FILE}:2:11",
        f"{FILE}:3:5",
        f"{FILE}:3:19",
        f"{FILE}:6:16",
    ]
