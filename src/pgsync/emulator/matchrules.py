"""Policy group match rules: checking and evaluating the service's tag expressions (pure).

A rule is the SDK's `PermissionBooleanExpression`: a tree of JSON objects discriminated by
`__type`. The nodes a match rule may use, as the Pulumi provider and console build them:

    PermissionExpressionOr / PermissionExpressionAnd   {left, right}   (boolean operands)
    PermissionExpressionNot                            {node}
    PermissionExpressionEqual                          {left, right}   (operands: a Tag or a
                                                                         LiteralString)
    PermissionExpressionHasTag                         {context, key}
    PermissionExpressionIn                             {target: Tag, values: SetString}
    PermissionLiteralExpressionBool                    {value}
    PermissionExpressionTag                            {context, key}  (an operand only)
    PermissionLiteralExpressionString                  {value}         (an operand only)
    PermissionSetExpressionString                      {values}        (In's values only)

A context is `{"__type": "PermissionExpressionStack"}` in a stack rule and
`{"__type": "PermissionExpressionInsightsAccount"}` in an account rule. As the service's Go
decoder does, a key whose value is null counts as absent (the SDK sends `"node": null` in every
HasTag) and unknown keys are ignored. Strict reading where the service is unpublished: tag keys
are non-empty, values compare exactly (case-sensitive), and trees nest at most MAX_DEPTH levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Entity = Literal["stack", "account"]

CONTEXTS: dict[str, str] = {
    "stack": "PermissionExpressionStack",
    "account": "PermissionExpressionInsightsAccount",
}
MAX_DEPTH = 64

OR = "PermissionExpressionOr"
AND = "PermissionExpressionAnd"
NOT = "PermissionExpressionNot"
EQUAL = "PermissionExpressionEqual"
HAS_TAG = "PermissionExpressionHasTag"
IN = "PermissionExpressionIn"
TAG = "PermissionExpressionTag"
LITERAL_BOOL = "PermissionLiteralExpressionBool"
LITERAL_STRING = "PermissionLiteralExpressionString"
SET_STRING = "PermissionSetExpressionString"
# The other members of the SDK's PermissionExpression hierarchy: real types, but not ones a
# match rule can use (they belong to team and environment permissions).
_NOT_IN_RULES = frozenset(
    {
        "PermissionExpressionEnvironment",
        "PermissionExpressionInsightsAccount",
        "PermissionExpressionStack",
        "PermissionExpressionTeam",
        "PermissionLiteralExpressionEnvironment",
        "PermissionLiteralExpressionInsightsAccount",
        "PermissionLiteralExpressionNumber",
        "PermissionLiteralExpressionStack",
        "PermissionLiteralExpressionTeam",
        "PermissionSetExpressionEnvironment",
        "PermissionSetExpressionInsightsAccount",
        "PermissionSetExpressionStack",
        "PermissionSetExpressionTeam",
        TAG,
        LITERAL_STRING,
        SET_STRING,
    }
)


class _Invalid(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"at {path}: {reason}")


def problem(expression: Any, entity: Entity, *, root: str = "$") -> str | None:
    """None when `expression` is a valid `entity` rule, else "at <json path>: <reason>".

    `root` names the expression's place in a larger document (e.g. "$.stackMatchRule").
    """
    try:
        _boolean(expression, entity, root, 1)
    except _Invalid as invalid:
        return str(invalid)
    return None


def evaluate(expression: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    """Whether an entity with these tags satisfies a valid rule; a missing tag equals nothing."""
    kind = expression["__type"]
    if kind == OR:
        return evaluate(expression["left"], tags) or evaluate(expression["right"], tags)
    if kind == AND:
        return evaluate(expression["left"], tags) and evaluate(expression["right"], tags)
    if kind == NOT:
        return not evaluate(expression["node"], tags)
    if kind == EQUAL:
        left = _operand(expression["left"], tags)
        return left is not None and left == _operand(expression["right"], tags)
    if kind == HAS_TAG:
        return str(expression["key"]) in tags
    if kind == IN:
        value = tags.get(str(expression["target"]["key"]))
        return value is not None and value in expression["values"]["values"]
    if kind == LITERAL_BOOL:
        return bool(expression["value"])
    raise ValueError(f"not a boolean match-rule expression: {kind!r}")


def _operand(node: Mapping[str, Any], tags: Mapping[str, str]) -> str | None:
    if node["__type"] == TAG:
        return tags.get(str(node["key"]))
    return str(node["value"])


def _node(value: Any, path: str, depth: int) -> tuple[Mapping[str, Any], str]:
    """The object at `path` without its null keys, and its `__type`."""
    if depth > MAX_DEPTH:
        raise _Invalid(path, f"the rule nests more than {MAX_DEPTH} levels deep")
    if not isinstance(value, Mapping):
        raise _Invalid(path, f"expected an expression object, got {_json_type(value)}")
    node = {key: item for key, item in value.items() if item is not None}
    kind = node.get("__type")
    if not isinstance(kind, str):
        raise _Invalid(path, "'__type' is required and must be a string")
    return node, kind


def _field(node: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in node:
        raise _Invalid(path, f"'{key}' is required in {node['__type']}")
    return node[key]


def _boolean(value: Any, entity: Entity, path: str, depth: int) -> None:
    node, kind = _node(value, path, depth)
    if kind in (OR, AND, EQUAL):
        check = _boolean if kind != EQUAL else _comparable
        for side in ("left", "right"):
            check(_field(node, side, path), entity, f"{path}.{side}", depth + 1)
    elif kind == NOT:
        _boolean(_field(node, "node", path), entity, f"{path}.node", depth + 1)
    elif kind == HAS_TAG:
        _tag_parts(node, entity, path, depth)
    elif kind == IN:
        target = _field(node, "target", path)
        target_node, target_kind = _node(target, f"{path}.target", depth + 1)
        if target_kind != TAG:
            raise _Invalid(f"{path}.target", f"expected a {TAG}, got {target_kind}")
        _tag_parts(target_node, entity, f"{path}.target", depth + 1)
        _string_set(_field(node, "values", path), f"{path}.values", depth + 1)
    elif kind == LITERAL_BOOL:
        if not isinstance(_field(node, "value", path), bool):
            raise _Invalid(f"{path}.value", "must be true or false")
    elif kind in _NOT_IN_RULES:
        raise _Invalid(path, f"{kind} is not a boolean expression of a match rule")
    else:
        raise _Invalid(path, f"unknown expression type '{kind}'")


def _comparable(value: Any, entity: Entity, path: str, depth: int) -> None:
    node, kind = _node(value, path, depth)
    if kind == TAG:
        _tag_parts(node, entity, path, depth)
    elif kind == LITERAL_STRING:
        if not isinstance(_field(node, "value", path), str):
            raise _Invalid(f"{path}.value", "must be a string")
    else:
        raise _Invalid(path, f"expected a {TAG} or a {LITERAL_STRING}, got {kind}")


def _tag_parts(node: Mapping[str, Any], entity: Entity, path: str, depth: int) -> None:
    """The `context` and `key` of a Tag or HasTag node."""
    _, context = _node(_field(node, "context", path), f"{path}.context", depth + 1)
    if context != CONTEXTS[entity]:
        raise _Invalid(
            f"{path}.context", f"the context of {entity} rules is {CONTEXTS[entity]}, not {context}"
        )
    key = _field(node, "key", path)
    if not isinstance(key, str) or not key:
        raise _Invalid(f"{path}.key", "must be a non-empty string")


def _string_set(value: Any, path: str, depth: int) -> None:
    node, kind = _node(value, path, depth)
    if kind != SET_STRING:
        raise _Invalid(path, f"expected a {SET_STRING}, got {kind}")
    values = _field(node, "values", path)
    if not isinstance(values, list):
        raise _Invalid(f"{path}.values", f"expected a list of strings, got {_json_type(values)}")
    for index, item in enumerate(values):
        if not isinstance(item, str):
            raise _Invalid(f"{path}.values[{index}]", f"expected a string, got {_json_type(item)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
