"""Match rules: readable `stackMatch` / `accountMatch` rules and the API's expression tree.

The expected trees are spelled out here in the shapes Pulumi's provider and console send, so
that these tests pin the wire form rather than echo the module's own builders.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsync.core.matchrule import (
    Entity,
    compile_rules,
    describe,
    expression_problem,
    readable_rules,
    rule_key,
    rule_problems,
)
from pgsync.core.model import canonical_json
from pgsync.emulator import matchrules as emulator_rules

STACK = {"__type": "PermissionExpressionStack"}
ACCOUNT = {"__type": "PermissionExpressionInsightsAccount"}
CONTEXTS: dict[str, dict[str, str]] = {"stack": STACK, "account": ACCOUNT}


def tag(key: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {"__type": "PermissionExpressionTag", "context": dict(context), "key": key}


def literal(value: str) -> dict[str, Any]:
    return {"__type": "PermissionLiteralExpressionString", "value": value}


def equal(key: str, value: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionEqual",
        "left": tag(key, context),
        "right": literal(value),
    }


def has_tag(key: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {"__type": "PermissionExpressionHasTag", "context": dict(context), "key": key}


def not_(node: dict[str, Any]) -> dict[str, Any]:
    return {"__type": "PermissionExpressionNot", "node": node}


def and_(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"__type": "PermissionExpressionAnd", "left": left, "right": right}


def or_(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"__type": "PermissionExpressionOr", "left": left, "right": right}


def in_(key: str, values: list[str]) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionIn",
        "target": tag(key),
        "values": {"__type": "PermissionSetExpressionString", "values": values},
    }


def flipped(node: dict[str, Any]) -> dict[str, Any]:
    """An Equal with its operands the other way round."""
    return {**node, "left": node["right"], "right": node["left"]}


# --- compile_rules ---------------------------------------------------------------------------


def test_string_condition_compiles_to_equal_of_tag_and_string_literal() -> None:
    assert compile_rules([{"env": "prod"}], "stack") == equal("env", "prod")


def test_not_condition_compiles_to_not_of_equal() -> None:
    assert compile_rules([{"env": {"not": "prod"}}], "stack") == not_(equal("env", "prod"))


def test_exists_true_compiles_to_has_tag() -> None:
    assert compile_rules([{"tier": {"exists": True}}], "stack") == has_tag("tier")


def test_exists_false_compiles_to_not_of_has_tag() -> None:
    assert compile_rules([{"tier": {"exists": False}}], "stack") == not_(has_tag("tier"))


def test_account_rules_read_insights_account_tags() -> None:
    compiled = compile_rules([{"env": "prod", "tier": {"exists": True}}], "account")
    assert compiled == and_(equal("env", "prod", ACCOUNT), has_tag("tier", ACCOUNT))


def test_four_rules_fold_into_a_balanced_tree() -> None:
    rules = [{"n": str(i)} for i in range(4)]
    one, two, three, four = (equal("n", str(i)) for i in range(4))
    assert compile_rules(rules, "stack") == or_(or_(one, two), or_(three, four))


def depth(node: Any) -> int:
    children = [v for v in node.values() if isinstance(v, dict)] if isinstance(node, dict) else []
    return 1 + max((depth(child) for child in children), default=0)


def test_a_long_rule_list_stays_shallow_enough_for_the_service() -> None:
    compiled = compile_rules([{"n": str(i)} for i in range(1000)], "stack")
    assert compiled is not None
    assert depth(compiled) <= 15
    assert emulator_rules.problem(compiled, "stack") is None


def test_conditions_of_a_rule_fold_left_into_and_in_file_order() -> None:
    compiled = compile_rules([{"c": "3", "a": "1", "b": "2"}], "stack")
    assert compiled == and_(and_(equal("c", "3"), equal("a", "1")), equal("b", "2"))


def test_rules_fold_left_into_or_in_file_order() -> None:
    compiled = compile_rules([{"env": "prod"}, {"team": "payments"}, {"env": "dev"}], "stack")
    expected = or_(or_(equal("env", "prod"), equal("team", "payments")), equal("env", "dev"))
    assert compiled == expected


def test_empty_rule_list_compiles_to_no_rule() -> None:
    assert compile_rules([], "stack") is None


def test_compile_refuses_rules_with_problems() -> None:
    with pytest.raises(ValueError, match="empty rule"):
        compile_rules([{"env": "prod"}, {}], "stack")


# --- readable_rules --------------------------------------------------------------------------


def test_readable_rules_sort_conditions_by_tag() -> None:
    expression = and_(and_(equal("c", "3"), equal("a", "1")), equal("b", "2"))
    readable = readable_rules(expression, "stack")
    assert readable == [{"a": "1", "b": "2", "c": "3"}]
    assert list(readable[0]) == ["a", "b", "c"]


def test_readable_rules_sort_rules_and_drop_duplicates() -> None:
    expression = or_(or_(equal("env", "prod"), equal("env", "dev")), equal("env", "prod"))
    assert readable_rules(expression, "stack") == [{"env": "dev"}, {"env": "prod"}]


def test_readable_rules_give_every_condition_kind_back() -> None:
    expression = and_(
        and_(equal("env", "prod"), not_(equal("team", "ops"))),
        and_(has_tag("tier"), not_(has_tag("legacy"))),
    )
    assert readable_rules(expression, "stack") == [
        {
            "env": "prod",
            "legacy": {"exists": False},
            "team": {"not": "ops"},
            "tier": {"exists": True},
        }
    ]


def test_readable_rules_accept_equal_with_the_literal_on_the_left() -> None:
    expression = or_(flipped(equal("env", "prod")), not_(flipped(equal("team", "ops"))))
    assert readable_rules(expression, "stack") == [{"env": "prod"}, {"team": {"not": "ops"}}]


def test_readable_rules_accept_right_folded_trees() -> None:
    expression = or_(equal("a", "1"), or_(equal("b", "2"), and_(equal("c", "3"), has_tag("d"))))
    assert readable_rules(expression, "stack") == [
        {"a": "1"},
        {"b": "2"},
        {"c": "3", "d": {"exists": True}},
    ]


def test_condition_repeated_verbatim_within_a_rule_counts_once() -> None:
    expression = and_(equal("env", "prod"), equal("env", "prod"))
    assert readable_rules(expression, "stack") == [{"env": "prod"}]


def test_readable_rules_of_account_expression_read_account_context() -> None:
    assert readable_rules(equal("env", "prod", ACCOUNT), "account") == [{"env": "prod"}]


def test_readable_then_compiled_then_readable_is_the_normalised_input() -> None:
    rules: list[dict[str, Any]] = [
        {"team": "payments", "env": {"not": "dev"}},
        {"env": "prod"},
        {"env": "prod"},
    ]
    compiled = compile_rules(rules, "stack")
    assert compiled is not None
    assert readable_rules(compiled, "stack") == [
        {"env": "prod"},
        {"env": {"not": "dev"}, "team": "payments"},
    ]


INEXPRESSIBLE = {
    "or under and": and_(or_(equal("a", "1"), equal("b", "2")), equal("c", "3")),
    "not of and": not_(and_(equal("a", "1"), equal("b", "2"))),
    "not of not": not_(not_(equal("a", "1"))),
    "in": in_("env", ["prod", "dev"]),
    "one tag twice with different conditions": and_(equal("env", "prod"), has_tag("env")),
    "other entity's context": equal("env", "prod", ACCOUNT),
    "equal of two tags": {
        "__type": "PermissionExpressionEqual",
        "left": tag("a"),
        "right": tag("b"),
    },
    "not of equal of two literals": not_(
        {"__type": "PermissionExpressionEqual", "left": literal("a"), "right": literal("b")}
    ),
    "boolean literal": {"__type": "PermissionLiteralExpressionBool", "value": True},
    "unknown node type": {"__type": "PermissionExpressionTeam"},
    "malformed node": {"__type": "PermissionExpressionOr", "left": equal("a", "1")},
}


@pytest.mark.parametrize("expression", INEXPRESSIBLE.values(), ids=INEXPRESSIBLE.keys())
def test_readable_rules_are_none_when_the_readable_form_cannot_say_it(
    expression: dict[str, Any],
) -> None:
    assert readable_rules(expression, "stack") is None


# --- rule_key --------------------------------------------------------------------------------


def test_rule_key_ignores_rule_order() -> None:
    first = compile_rules([{"env": "prod"}, {"team": "payments"}], "stack")
    second = compile_rules([{"team": "payments"}, {"env": "prod"}], "stack")
    assert first is not None and second is not None
    assert rule_key(first, "stack") == rule_key(second, "stack")


def test_rule_key_ignores_condition_order() -> None:
    first = compile_rules([{"env": "prod", "tier": {"exists": True}}], "stack")
    second = compile_rules([{"tier": {"exists": True}, "env": "prod"}], "stack")
    assert first is not None and second is not None
    assert rule_key(first, "stack") == rule_key(second, "stack")


def test_rule_key_ignores_duplicate_rules() -> None:
    once = or_(equal("env", "prod"), equal("team", "x"))
    twice = or_(once, equal("env", "prod"))
    assert rule_key(once, "stack") == rule_key(twice, "stack")


def test_rule_key_ignores_fold_shape() -> None:
    left = or_(or_(equal("a", "1"), equal("b", "2")), equal("c", "3"))
    right = or_(equal("a", "1"), or_(equal("b", "2"), equal("c", "3")))
    assert rule_key(left, "stack") == rule_key(right, "stack")


def test_rule_key_ignores_equal_operand_order() -> None:
    assert rule_key(equal("env", "prod"), "stack") == rule_key(
        flipped(equal("env", "prod")), "stack"
    )


def test_rule_key_tells_equals_from_not_equals() -> None:
    assert rule_key(equal("env", "prod"), "stack") != rule_key(not_(equal("env", "prod")), "stack")


def test_rule_key_tells_one_rule_of_two_conditions_from_two_rules() -> None:
    together = and_(equal("a", "1"), equal("b", "2"))
    apart = or_(equal("a", "1"), equal("b", "2"))
    assert rule_key(together, "stack") != rule_key(apart, "stack")


def test_rule_key_of_inexpressible_tree_ignores_json_key_order() -> None:
    tree = in_("env", ["prod"])
    reordered = {"values": tree["values"], "target": tree["target"], "__type": tree["__type"]}
    assert rule_key(tree, "stack") == rule_key(reordered, "stack")


def test_rule_key_of_inexpressible_tree_ignores_null_fields() -> None:
    tree = in_("env", ["prod"])
    assert rule_key(tree, "stack") == rule_key({**tree, "comment": None}, "stack")


def test_rule_key_tells_a_rule_in_the_wrong_context_from_the_right_one() -> None:
    assert rule_key(equal("env", "prod", STACK), "account") != rule_key(
        equal("env", "prod", ACCOUNT), "account"
    )


# --- expression_problem ----------------------------------------------------------------------


def test_compiled_expression_has_no_problem() -> None:
    compiled = compile_rules(
        [{"env": "prod", "t": {"not": "x"}}, {"u": {"exists": False}}], "stack"
    )
    assert expression_problem(compiled, "stack") is None


def test_in_over_a_string_set_has_no_problem() -> None:
    assert expression_problem(in_("env", ["prod", "dev"]), "stack") is None


def test_null_field_counts_as_absent() -> None:
    assert expression_problem({**has_tag("env"), "node": None}, "stack") is None


def test_null_required_field_counts_as_missing() -> None:
    assert expression_problem({**has_tag("env"), "key": None}, "stack") == (
        (),
        "PermissionExpressionHasTag is missing 'key'",
    )


def test_boolean_literal_has_no_problem() -> None:
    expression = or_(equal("a", "1"), {"__type": "PermissionLiteralExpressionBool", "value": True})
    assert expression_problem(expression, "stack") is None


def test_equal_of_two_tags_has_no_problem() -> None:
    expression = {"__type": "PermissionExpressionEqual", "left": tag("a"), "right": tag("b")}
    assert expression_problem(expression, "stack") is None


PROBLEMS: dict[str, tuple[Any, tuple[str | int, ...], str]] = {
    "not an object": ([], (), "expected a boolean node"),
    "no __type": ({"left": equal("a", "1")}, (), "no string `__type`"),
    "unknown node type": (
        or_(equal("a", "1"), {"__type": "PermissionExpressionTeam"}),
        ("right", "__type"),
        "PermissionExpressionTeam cannot stand here",
    ),
    "operand where a boolean belongs": (
        and_(tag("a"), equal("b", "2")),
        ("left", "__type"),
        "expected a boolean node",
    ),
    "missing field": (
        not_({"__type": "PermissionExpressionOr", "left": equal("a", "1")}),
        ("node",),
        "PermissionExpressionOr is missing 'right'",
    ),
    "unexpected field": (
        {**equal("a", "1"), "rigth": literal("2")},
        ("rigth",),
        "unexpected field 'rigth'",
    ),
    "other entity's context": (
        or_(equal("a", "1"), has_tag("b", ACCOUNT)),
        ("right", "context"),
        '"PermissionExpressionStack"',
    ),
    "empty tag key": (equal("", "1"), ("left", "key"), "non-empty string"),
    "literal that is not a string": (
        {**equal("a", "1"), "right": {"__type": "PermissionLiteralExpressionString", "value": 1}},
        ("right", "value"),
        "must be text",
    ),
    "equal of a boolean": (
        {**equal("a", "1"), "right": has_tag("b")},
        ("right", "__type"),
        "expected PermissionExpressionTag or PermissionLiteralExpressionString",
    ),
    "boolean literal that is not a boolean": (
        {"__type": "PermissionLiteralExpressionBool", "value": "yes"},
        ("value",),
        "is true or false",
    ),
    "set with a number in it": (
        in_("env", ["prod", 3]),  # type: ignore[list-item]
        ("values", "values", 1),
        "holds strings",
    ),
    "in over a literal instead of a tag": (
        {**in_("env", ["prod"]), "target": literal("env")},
        ("target", "__type"),
        "expected PermissionExpressionTag",
    ),
}


@pytest.mark.parametrize(("expression", "path", "reason"), PROBLEMS.values(), ids=PROBLEMS.keys())
def test_expression_problem_names_the_path_and_reason(
    expression: Any, path: tuple[str | int, ...], reason: str
) -> None:
    problem = expression_problem(expression, "stack")
    assert problem is not None
    assert problem[0] == path
    assert reason in problem[1]


def test_expression_problem_reports_the_leftmost_problem_first() -> None:
    expression = or_({"__type": "Nope"}, equal("", "1"))
    assert expression_problem(expression, "stack") == (
        ("left", "__type"),
        "Nope cannot stand here: expected a boolean node (PermissionExpressionOr, And, Not, "
        "Equal, HasTag, In or PermissionLiteralExpressionBool)",
    )


def test_thousands_of_rules_do_not_exhaust_the_stack() -> None:
    rules = [{"n": str(index)} for index in range(5000)]
    compiled = compile_rules(rules, "stack")
    assert expression_problem(compiled, "stack") is None
    assert compiled is not None and len(readable_rules(compiled, "stack") or []) == 5000


# --- describe --------------------------------------------------------------------------------


def test_describe_joins_rules_with_or_and_conditions_with_and() -> None:
    compiled = compile_rules(
        [{"env": "prod"}, {"team": "payments", "tier": {"exists": True}}], "stack"
    )
    assert compiled is not None
    assert describe(compiled, "stack") == "env = prod, or team = payments and tier exists"


def test_describe_writes_not_as_inequality_and_exists_false_as_missing() -> None:
    expression = and_(not_(equal("env", "dev")), not_(has_tag("legacy")))
    assert describe(expression, "stack") == "env != dev and legacy missing"


def test_describe_lists_rules_in_normalised_order() -> None:
    expression = or_(and_(equal("z", "1"), equal("a", "2")), equal("b", "3"))
    assert describe(expression, "stack") == "a = 2 and z = 1, or b = 3"


def test_describe_quotes_keys_and_values_with_spaces_or_quotes() -> None:
    expression = and_(equal("cost center", "R&D"), equal("owner", 'say "hi"'))
    assert describe(expression, "stack") == '"cost center" = "R&D" and owner = "say \\"hi\\""'


def test_describe_leaves_usual_tag_names_bare() -> None:
    assert (
        describe(equal("pulumi:project", "web-app_v1.2"), "stack")
        == "pulumi:project = web-app_v1.2"
    )


def test_describe_quotes_words_of_its_own_grammar_and_empty_values() -> None:
    expression = and_(equal("or", "exists"), equal("x", ""))
    assert describe(expression, "stack") == '"or" = "exists" and x = ""'


def test_describe_escapes_invisible_characters() -> None:
    assert describe(equal("env", "prod\u200b\n"), "stack") == 'env = "prod\\u200b\\u000a"'


def test_describe_parenthesises_or_under_and() -> None:
    expression = and_(or_(equal("env", "prod"), equal("env", "dev")), has_tag("team"))
    assert describe(expression, "stack") == "(env = prod, or env = dev) and team exists"


def test_describe_renders_in_with_its_set() -> None:
    assert describe(in_("env", ["prod", "a b"]), "stack") == 'env in (prod, "a b")'


def test_describe_renders_negated_in_as_not_in() -> None:
    assert describe(not_(in_("env", ["prod"])), "stack") == "env not in (prod)"


def test_describe_parenthesises_a_negated_compound() -> None:
    expression = not_(and_(equal("a", "1"), equal("b", "2")))
    assert describe(expression, "stack") == "not (a = 1 and b = 2)"


def test_describe_marks_tags_of_the_other_entity() -> None:
    assert describe(equal("env", "prod", ACCOUNT), "stack") == "account tag env = prod"


def test_describe_marks_tags_compared_with_tags() -> None:
    expression = {"__type": "PermissionExpressionEqual", "left": tag("a"), "right": tag("b")}
    assert describe(expression, "stack") == "tag a = tag b"


def test_describe_renders_boolean_literals() -> None:
    expression = and_(has_tag("a"), {"__type": "PermissionLiteralExpressionBool", "value": False})
    assert describe(expression, "stack") == "a exists and false"


def test_describe_names_nodes_it_does_not_know() -> None:
    expression = or_(equal("a", "1"), {"__type": "PermissionExpressionTeam"})
    assert describe(expression, "stack") == "a = 1, or <PermissionExpressionTeam>"


def test_describe_shows_missing_parts_of_a_malformed_tree() -> None:
    assert describe({"__type": "PermissionExpressionOr", "left": has_tag("a")}, "stack") == (
        "a exists, or <?>"
    )


def test_describe_names_malformed_leaves_by_their_type() -> None:
    expression = or_(
        {"__type": "PermissionLiteralExpressionBool"},
        {**in_("env", []), "values": {"__type": "PermissionSetExpressionString", "values": 3}},
    )
    assert describe(expression, "stack") == (
        "<PermissionLiteralExpressionBool>, or env in <PermissionSetExpressionString>"
    )


# --- rule_problems ---------------------------------------------------------------------------


def test_valid_rules_have_no_problems() -> None:
    rules = [{"env": "prod"}, {"a": {"not": "x"}, "b": {"exists": True}, "c": {"exists": False}}]
    assert rule_problems(rules) == []


def test_empty_rule_is_reported_as_matching_everything_with_a_way_out() -> None:
    [(path, message)] = rule_problems([{"env": "prod"}, {}])
    assert path == (1,)
    assert "matches every stack or account" in message
    assert "{exists: true}" in message


def test_rule_that_is_not_a_mapping_is_reported() -> None:
    assert rule_problems(["env=prod"]) == [
        ((0,), "a rule is a mapping of tag: condition pairs (e.g. `- env: prod`), not a string")
    ]


def test_empty_tag_name_is_reported() -> None:
    assert rule_problems([{"": "prod"}]) == [
        ((0, ""), "tag name is empty; write the tag's name before the colon")
    ]


def test_tag_name_that_is_not_a_string_asks_for_quotes() -> None:
    assert rule_problems([{1: "prod"}]) == [
        ((0, 1), "tag name 1 is a number; quote it to name the tag")
    ]


def test_number_condition_asks_for_quotes() -> None:
    [(path, message)] = rule_problems([{"tier": 2}])
    assert path == (0, "tier")
    assert 'quote it (e.g. tier: "2")' in message


def test_boolean_condition_asks_for_quotes() -> None:
    [(path, message)] = rule_problems([{"public": True}])
    assert path == (0, "public")
    assert 'quote it (e.g. public: "true")' in message


def test_missing_condition_lists_the_condition_forms() -> None:
    [(path, message)] = rule_problems([{"env": None}])
    assert path == (0, "env")
    assert message == (
        "the condition on tag env has no value; a condition is a value to equal, "
        "{not: VALUE} or {exists: true|false}"
    )


def test_list_condition_suggests_one_rule_per_value() -> None:
    [(_, message)] = rule_problems([{"env": ["prod", "dev"]}])
    assert "write one rule per value" in message


def test_not_with_a_non_string_asks_for_quotes() -> None:
    [(path, message)] = rule_problems([{"tier": {"not": 3}}])
    assert path == (0, "tier", "not")
    assert "quote it" in message


def test_exists_with_a_non_boolean_asks_for_true_or_false() -> None:
    [(path, message)] = rule_problems([{"tier": {"exists": "yes"}}])
    assert path == (0, "tier", "exists")
    assert "takes true or false" in message


def test_condition_mapping_with_both_operators_is_reported() -> None:
    [(path, message)] = rule_problems([{"env": {"not": "dev", "exists": True}}])
    assert path == (0, "env")
    assert "exactly one of `not: VALUE` or `exists: true|false` (found: exists, not)" in message


def test_condition_mapping_with_an_unknown_operator_is_reported() -> None:
    [(_, message)] = rule_problems([{"env": {"in": ["a"]}}])
    assert "(found: in)" in message


def test_every_problem_is_reported_not_just_the_first() -> None:
    problems = rule_problems([{}, {"a": 1, "b": None}, "x"])
    assert [path for path, _ in problems] == [(0,), (1, "a"), (1, "b"), (2,)]


# --- properties ------------------------------------------------------------------------------

KEYS = ["env", "team", "tier", "cost center", 'q"uote', "pulumi:project"]
VALUES = ["prod", "dev", "", "a b"]
conditions = st.one_of(
    st.sampled_from(VALUES),
    st.builds(lambda value: {"not": value}, st.sampled_from(VALUES)),
    st.builds(lambda flag: {"exists": flag}, st.booleans()),
)
rule_lists = st.lists(
    st.dictionaries(st.sampled_from(KEYS), conditions, min_size=1, max_size=4),
    min_size=1,
    max_size=5,
)
tag_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=len(KEYS))
entities = st.sampled_from(["stack", "account"])


def holds(key: str, condition: Any, tags: dict[str, str]) -> bool:
    """The contract's reading of one condition."""
    if isinstance(condition, str):
        return tags.get(key) == condition
    if "not" in condition:
        different: str = condition["not"]
        return tags.get(key) != different
    return (key in tags) is condition["exists"]


def matches(rules: list[dict[str, Any]], tags: dict[str, str]) -> bool:
    return any(all(holds(key, value, tags) for key, value in rule.items()) for rule in rules)


def regrouped(nodes: list[dict[str, Any]], kind: str, rnd: random.Random) -> dict[str, Any]:
    """The nodes in order under a randomly shaped tree of `kind` nodes."""
    if len(nodes) == 1:
        return nodes[0]
    split = rnd.randint(1, len(nodes) - 1)
    return {
        "__type": kind,
        "left": regrouped(nodes[:split], kind, rnd),
        "right": regrouped(nodes[split:], kind, rnd),
    }


def condition_node(key: str, condition: Any, entity: Entity, rnd: random.Random) -> dict[str, Any]:
    context = CONTEXTS[entity]
    if isinstance(condition, str) or "not" in condition:
        value = condition if isinstance(condition, str) else condition["not"]
        node = equal(key, value, context)
        node = flipped(node) if rnd.random() < 0.5 else node
        return node if isinstance(condition, str) else not_(node)
    node = has_tag(key, context)
    return node if condition["exists"] else not_(node)


@settings(max_examples=300, deadline=None)
@given(rules=rule_lists, tags=tag_maps, entity=entities)
def test_compiled_rules_match_exactly_the_tags_the_readable_rules_match(
    rules: list[dict[str, Any]], tags: dict[str, str], entity: Entity
) -> None:
    compiled = compile_rules(rules, entity)
    assert compiled is not None
    assert emulator_rules.evaluate(compiled, tags) is matches(rules, tags)


@settings(max_examples=200, deadline=None)
@given(rules=rule_lists, entity=entities)
def test_readable_rules_of_compiled_rules_are_the_rules_normalised(
    rules: list[dict[str, Any]], entity: Entity
) -> None:
    compiled = compile_rules(rules, entity)
    assert compiled is not None
    readable = readable_rules(compiled, entity)
    assert readable is not None
    texts = [canonical_json(rule) for rule in readable]
    assert len(texts) == len(set(texts))
    assert set(texts) == {canonical_json(rule) for rule in rules}
    assert all(list(rule) == sorted(rule) for rule in readable)
    again = compile_rules(readable, entity)
    assert again is not None and readable_rules(again, entity) == readable


@settings(max_examples=200, deadline=None)
@given(rules=rule_lists, entity=entities, seed=st.integers(0, 2**32))
def test_rule_key_is_the_same_whatever_the_order_duplicates_and_tree_shape(
    rules: list[dict[str, Any]], entity: Entity, seed: int
) -> None:
    rnd = random.Random(seed)
    shuffled = [*rules, *rnd.sample(rules, rnd.randint(0, len(rules)))]
    rnd.shuffle(shuffled)
    disjuncts = []
    for rule in shuffled:
        items = list(rule.items())
        rnd.shuffle(items)
        conjuncts = [condition_node(key, condition, entity, rnd) for key, condition in items]
        disjuncts.append(regrouped(conjuncts, "PermissionExpressionAnd", rnd))
    reshaped = regrouped(disjuncts, "PermissionExpressionOr", rnd)
    compiled = compile_rules(rules, entity)
    assert compiled is not None
    assert rule_key(reshaped, entity) == rule_key(compiled, entity)
    assert describe(reshaped, entity) == describe(compiled, entity)


@settings(max_examples=200, deadline=None)
@given(rules=rule_lists, entity=entities)
def test_every_compiled_expression_is_well_formed_for_pgsync_and_the_emulator(
    rules: list[dict[str, Any]], entity: Entity
) -> None:
    compiled = compile_rules(rules, entity)
    assert expression_problem(compiled, entity) is None
    assert emulator_rules.problem(compiled, entity) is None


def near_valid_trees(entity: Entity) -> st.SearchStrategy[Any]:
    """Trees near the valid `entity` rules: mostly well-formed, with one mistake here and there.

    Mistakes: the other entity's or a foreign context, empty keys, operands out of place, wrong
    literal types, missing fields, foreign node types. Never unknown fields or deep nesting: the
    two places where the validators are documented to differ.
    """
    right, wrong = CONTEXTS[entity], CONTEXTS["account" if entity == "stack" else "stack"]
    contexts = st.sampled_from([right] * 20 + [wrong, {"__type": "PermissionExpressionTeam"}])
    keys = st.sampled_from(["env", "team", "tier"] * 5 + [""])
    tags = st.builds(tag, keys, contexts)
    has_tags = st.builds(has_tag, keys, contexts)
    strings = st.builds(literal, st.sampled_from(["prod", "dev", ""]))
    numbers = st.just({"__type": "PermissionLiteralExpressionString", "value": 1})
    operands = st.one_of(*[tags] * 10, *[strings] * 10, numbers, has_tags)
    sets = st.one_of(
        st.builds(
            lambda values: {"__type": "PermissionSetExpressionString", "values": values},
            st.lists(st.sampled_from(["prod", "dev", "prod", 1]), max_size=3),
        ),
        strings,
    )
    equals = st.builds(
        lambda left, right: {"__type": "PermissionExpressionEqual", "left": left, "right": right},
        operands,
        operands,
    )
    ins = st.builds(
        lambda target, values: {
            "__type": "PermissionExpressionIn",
            "target": target,
            "values": values,
        },
        st.one_of(tags, tags, tags, strings),
        sets,
    )
    booleans = st.builds(
        lambda value: {"__type": "PermissionLiteralExpressionBool", "value": value},
        st.sampled_from([True, False, "true"]),
    )
    junk = st.sampled_from([{"__type": "PermissionExpressionTeam"}, {"__type": None}, "x", None])
    leaves = st.one_of(*[equals] * 12, *[has_tags] * 6, *[ins] * 3, booleans, junk, tags)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            *[st.builds(or_, children, children)] * 4,
            *[st.builds(and_, children, children)] * 4,
            *[st.builds(not_, children)] * 2,
            st.builds(lambda left: {"__type": "PermissionExpressionAnd", "left": left}, children),
        ),
        max_leaves=6,
    )


@settings(max_examples=500, deadline=None)
@given(data=st.data(), entity=entities)
def test_pgsync_and_the_emulator_agree_on_which_trees_are_valid(
    data: st.DataObject, entity: Entity
) -> None:
    tree = data.draw(near_valid_trees(entity))
    assert (expression_problem(tree, entity) is None) is (
        emulator_rules.problem(tree, entity) is None
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), entity=entities)
def test_describe_renders_any_tree_on_one_line(data: st.DataObject, entity: Entity) -> None:
    tree = data.draw(near_valid_trees(entity))
    text = describe({"__type": "PermissionExpressionNot", "node": tree}, entity)
    assert text and "\n" not in text
