"""Match rules of the emulator: what the service's tag expressions mean and which it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from pgsync.emulator.matchrules import MAX_DEPTH, evaluate, problem

STACK = {"__type": "PermissionExpressionStack"}
ACCOUNT = {"__type": "PermissionExpressionInsightsAccount"}


def tag(key: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {"__type": "PermissionExpressionTag", "context": context, "key": key}


def literal(value: Any) -> dict[str, Any]:
    return {"__type": "PermissionLiteralExpressionString", "value": value}


def equal(key: str, value: str) -> dict[str, Any]:
    return {"__type": "PermissionExpressionEqual", "left": tag(key), "right": literal(value)}


def has_tag(key: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {"__type": "PermissionExpressionHasTag", "context": context, "key": key}


def one_of(key: str, *values: str) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionIn",
        "target": tag(key),
        "values": {"__type": "PermissionSetExpressionString", "values": list(values)},
    }


def both(kind: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"__type": f"PermissionExpression{kind}", "left": left, "right": right}


def negate(node: dict[str, Any]) -> dict[str, Any]:
    return {"__type": "PermissionExpressionNot", "node": node}


PROD = {"env": "prod", "team": "payments"}

# --- evaluate --------------------------------------------------------------------------------


@pytest.mark.parametrize(("tags", "expected"), [(PROD, True), ({"env": "dev"}, False), ({}, False)])
def test_equal_holds_when_the_tag_has_the_value(tags: dict[str, str], expected: bool) -> None:
    assert evaluate(equal("env", "prod"), tags) is expected


def test_equal_holds_with_the_literal_on_the_left_too() -> None:
    rule = {"__type": "PermissionExpressionEqual", "left": literal("prod"), "right": tag("env")}
    assert evaluate(rule, PROD) is True


def test_equal_of_two_missing_tags_is_false() -> None:
    rule = {"__type": "PermissionExpressionEqual", "left": tag("a"), "right": tag("b")}
    assert evaluate(rule, {}) is False


def test_equal_compares_values_case_sensitively() -> None:
    assert evaluate(equal("env", "Prod"), PROD) is False


@pytest.mark.parametrize(("tags", "expected"), [(PROD, True), ({"env": "prod"}, False)])
def test_has_tag_holds_when_the_key_is_present(tags: dict[str, str], expected: bool) -> None:
    assert evaluate(has_tag("team"), tags) is expected


def test_has_tag_holds_for_an_empty_value() -> None:
    assert evaluate(has_tag("team"), {"team": ""}) is True


@pytest.mark.parametrize(
    ("tags", "expected"), [({"env": "dev"}, True), ({"env": "prod"}, False), ({}, False)]
)
def test_in_holds_when_the_tag_value_is_listed(tags: dict[str, str], expected: bool) -> None:
    assert evaluate(one_of("env", "dev", "test"), tags) is expected


def test_not_and_or_combine_as_usual() -> None:
    rule = both("Or", both("And", equal("env", "prod"), negate(has_tag("legacy"))), has_tag("x"))
    assert [evaluate(rule, t) for t in (PROD, {**PROD, "legacy": "1"}, {"x": ""})] == [
        True,
        False,
        True,
    ]


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_literal_is_its_value(value: bool) -> None:
    assert evaluate({"__type": "PermissionLiteralExpressionBool", "value": value}, {}) is value


# --- problem ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        equal("env", "prod"),
        has_tag("team"),
        one_of("env", "dev"),
        negate(both("And", equal("env", "prod"), has_tag("team"))),
        {"__type": "PermissionLiteralExpressionBool", "value": True},
    ],
)
def test_the_shapes_the_provider_and_console_send_are_valid_stack_rules(rule: Any) -> None:
    assert problem(rule, "stack") is None


def test_null_keys_count_as_absent_as_the_sdk_sends_them() -> None:
    assert problem({**has_tag("team"), "node": None}, "stack") is None


def test_unknown_keys_are_ignored() -> None:
    assert problem({**has_tag("team"), "comment": "x"}, "stack") is None


def test_an_account_rule_uses_the_insights_account_context() -> None:
    assert problem(has_tag("team", ACCOUNT), "account") is None


@pytest.mark.parametrize(
    ("rule", "entity", "expected"),
    [
        ("env", "stack", "at $: expected an expression object, got a string"),
        ({"key": "env"}, "stack", "at $: '__type' is required and must be a string"),
        ({"__type": "Nope"}, "stack", "at $: unknown expression type 'Nope'"),
        (
            tag("env"),
            "stack",
            "at $: PermissionExpressionTag is not a boolean expression of a match rule",
        ),
        (
            {"__type": "PermissionExpressionTeam"},
            "stack",
            "at $: PermissionExpressionTeam is not a boolean expression of a match rule",
        ),
        (
            {"__type": "PermissionExpressionOr", "left": has_tag("a")},
            "stack",
            "at $: 'right' is required in PermissionExpressionOr",
        ),
        (
            negate(equal("env", "prod") | {"right": has_tag("x")}),
            "stack",
            "at $.node.right: expected a PermissionExpressionTag or a "
            "PermissionLiteralExpressionString, got PermissionExpressionHasTag",
        ),
        (
            both("And", has_tag("a"), equal("env", "prod")),
            "account",
            "at $.left.context: the context of account rules is "
            "PermissionExpressionInsightsAccount, not PermissionExpressionStack",
        ),
        (has_tag(""), "stack", "at $.key: must be a non-empty string"),
        (
            {"__type": "PermissionExpressionEqual", "left": tag("env"), "right": literal(3)},
            "stack",
            "at $.right.value: must be a string",
        ),
        (
            one_of("env") | {"target": literal("x")},
            "stack",
            "at $.target: expected a PermissionExpressionTag, got "
            "PermissionLiteralExpressionString",
        ),
        (
            one_of("env") | {"values": {"__type": "PermissionSetExpressionString", "values": [1]}},
            "stack",
            "at $.values.values[0]: expected a string, got a number",
        ),
        (
            {"__type": "PermissionLiteralExpressionBool", "value": "yes"},
            "stack",
            "at $.value: must be true or false",
        ),
    ],
)
def test_invalid_rules_are_reported_at_their_json_path(
    rule: Any, entity: Any, expected: str
) -> None:
    assert problem(rule, entity) == expected


def test_a_root_names_the_rules_place_in_the_request() -> None:
    assert problem(has_tag(""), "stack", root="$[2].stackMatchRule") == (
        "at $[2].stackMatchRule.key: must be a non-empty string"
    )


def test_rules_nested_too_deeply_are_refused() -> None:
    rule: dict[str, Any] = has_tag("a")
    for _ in range(MAX_DEPTH):
        rule = negate(rule)
    reported = problem(rule, "stack")
    assert reported is not None
    assert reported.endswith(f"the rule nests more than {MAX_DEPTH} levels deep")
