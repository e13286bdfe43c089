"""Match rules: the readable `stackMatch` / `accountMatch` form and the API's expression tree.

The readable form (contract §6.1) is a list of rules, any of which matches; a rule maps tags to
conditions that must all hold. The API's form is a tree of `__type`-discriminated objects, built
here the way Pulumi's provider and console build it: Or of Ands, each folded left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pgsync.core.model import MatchRule, RuleEntity, canonical_json

Entity = RuleEntity
"""Which entities a rule selects (one home: `pgsync.core.model.RuleEntity`)."""
Path = tuple[str | int, ...]

_OR = "PermissionExpressionOr"
_AND = "PermissionExpressionAnd"
_NOT = "PermissionExpressionNot"
_EQUAL = "PermissionExpressionEqual"
_HAS_TAG = "PermissionExpressionHasTag"
_IN = "PermissionExpressionIn"
_TAG = "PermissionExpressionTag"
_STRING = "PermissionLiteralExpressionString"
_STRING_SET = "PermissionSetExpressionString"
_BOOL = "PermissionLiteralExpressionBool"
_CONTEXT: dict[str, str] = {
    "stack": "PermissionExpressionStack",
    "account": "PermissionExpressionInsightsAccount",
}
_ENTITY_OF_CONTEXT = {context: entity for entity, context in _CONTEXT.items()}

_FIELDS: dict[str, tuple[str, ...]] = {
    _OR: ("left", "right"),
    _AND: ("left", "right"),
    _NOT: ("node",),
    _EQUAL: ("left", "right"),
    _HAS_TAG: ("context", "key"),
    _IN: ("target", "values"),
    _TAG: ("context", "key"),
    _STRING: ("value",),
    _STRING_SET: ("values",),
    _BOOL: ("value",),
}
# The nodes `_describe_node` renders itself; everything else is an operand.
_COMPOUND = frozenset({_OR, _AND, _NOT, _EQUAL, _HAS_TAG, _IN})
_ROLES: dict[str, tuple[frozenset[str], str]] = {
    "boolean": (
        frozenset({_OR, _AND, _NOT, _EQUAL, _HAS_TAG, _IN, _BOOL}),
        "a boolean node (PermissionExpressionOr, And, Not, Equal, HasTag, In "
        "or PermissionLiteralExpressionBool)",
    ),
    "operand": (frozenset({_TAG, _STRING}), f"{_TAG} or {_STRING}"),
    "tag": (frozenset({_TAG}), _TAG),
    "set": (frozenset({_STRING_SET}), _STRING_SET),
}


def match_rule(expression: Mapping[str, Any], entity: Entity) -> MatchRule:
    """A rule in the API's expression form as the model holds it, with its identity."""
    return MatchRule(entity, rule_key(expression, entity), canonical_json(expression))


def compile_rules(rules: Sequence[Mapping[str, Any]], entity: Entity) -> dict[str, Any] | None:
    """The API expression for readable rules, in file order, as a balanced tree; [] is no rule."""
    problems = rule_problems(rules)
    if problems:
        path, message = problems[0]
        raise ValueError(f"match rule at {list(path)}: {message}")
    if not rules:
        return None
    return _fold(
        _OR,
        [
            _fold(
                _AND,
                [_compile_condition(key, condition, entity) for key, condition in rule.items()],
            )
            for rule in rules
        ],
    )


def readable_rules(expression: Mapping[str, Any], entity: Entity) -> list[dict[str, Any]] | None:
    """The normalised readable rules for an expression, or None when that form cannot say it.

    Normalised: conditions sorted by tag, rules sorted and without duplicates; a condition
    repeated verbatim within one rule counts once.
    """
    if expression_problem(expression, entity) is not None:
        return None
    rules: dict[tuple[tuple[str, int, str], ...], dict[str, Any]] = {}
    for disjunct in _chain(expression, _OR):
        conditions: dict[str, Any] = {}
        for conjunct in _chain(disjunct, _AND):
            condition = _readable_condition(conjunct)
            if condition is None:
                return None
            key, value = condition
            if conditions.setdefault(key, value) != value:
                return None
        rule = {key: conditions[key] for key in sorted(conditions)}
        rules.setdefault(_rule_order(rule), rule)
    return [rules[order] for order in sorted(rules)]


def expression_problem(expression: Any, entity: Entity) -> tuple[Path, str] | None:
    """None for a well-formed match-rule tree over this entity's tags, else (path, reason)."""
    pending: list[tuple[Any, Path, str]] = [(expression, (), "boolean")]
    while pending:
        node, path, role = pending.pop()
        problem = _node_problem(node, path, role, entity)
        if problem is not None:
            return problem
        pending.extend(reversed(_children(node, path)))
    return None


def rule_key(expression: Mapping[str, Any], entity: Entity) -> str:
    """Equal for rules that differ only in order, duplicates, fold shape or null fields."""
    readable = readable_rules(expression, entity)
    return canonical_json(readable if readable is not None else _without_nulls(expression))


def describe(expression: Mapping[str, Any], entity: Entity) -> str:
    """One line for plans: "env = prod, or team = payments and tier exists"."""
    rules = readable_rules(expression, entity)
    if rules is not None:
        return ", or ".join(
            " and ".join(_describe_condition(key, condition) for key, condition in rule.items())
            for rule in rules
        )
    return _describe_node(expression, entity, nested=False)


def rule_problems(rules: Sequence[Any]) -> list[tuple[Path, str]]:
    """What is wrong with readable rules beyond their JSON Schema shape, each with its path."""
    problems: list[tuple[Path, str]] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            problems.append(
                (
                    (index,),
                    f"a rule is a mapping of tag: condition pairs (e.g. `- env: prod`), "
                    f"not {_yaml_kind(rule)}",
                )
            )
            continue
        if not rule:
            problems.append(
                (
                    (index,),
                    "an empty rule matches every stack or account; give it at least one "
                    "condition (to match everything that carries a tag, write "
                    "`TAG: {exists: true}`)",
                )
            )
        for key, condition in rule.items():
            problems.extend(_condition_problems(index, key, condition))
    return problems


def _condition_problems(index: int, key: Any, condition: Any) -> list[tuple[Path, str]]:
    # An int key stays an int so that the caller can still find it in the YAML mapping.
    plain = isinstance(key, str | int) and not isinstance(key, bool)
    here: Path = (index, key if plain else str(key))
    if not isinstance(key, str):
        return [(here, f"tag name {key!r} is {_yaml_kind(key)}; quote it to name the tag")]
    if not key:
        return [(here, "tag name is empty; write the tag's name before the colon")]
    shown = _token(key)
    if isinstance(condition, str):
        return []
    if isinstance(condition, Mapping):
        return _mapping_condition_problems(here, shown, condition)
    if condition is None:
        reason = "has no value"
    elif isinstance(condition, list):
        return [
            (
                here,
                f"the condition on tag {shown} is a list; a condition matches one value, so "
                "write one rule per value to match any of several",
            )
        ]
    else:
        written = (
            canonical_json(condition) if isinstance(condition, bool | int | float) else condition
        )
        reason = f'is {_yaml_kind(condition)}, not text; quote it (e.g. {shown}: "{written}")'
    return [
        (
            here,
            f"the condition on tag {shown} {reason}; a condition is a value to equal, "
            "{not: VALUE} or {exists: true|false}",
        )
    ]


def _mapping_condition_problems(
    here: Path, shown: str, condition: Mapping[Any, Any]
) -> list[tuple[Path, str]]:
    operators = sorted(str(operator) for operator in condition)
    if operators not in (["not"], ["exists"]):
        found = ", ".join(operators) if operators else "none"
        return [
            (
                here,
                f"the condition on tag {shown} takes exactly one of `not: VALUE` or "
                f"`exists: true|false` (found: {found})",
            )
        ]
    if "not" in condition and not isinstance(condition["not"], str):
        return [
            (
                (*here, "not"),
                f"`not:` on tag {shown} takes the text the tag must differ from; quote it "
                f"(found {_yaml_kind(condition['not'])})",
            )
        ]
    if "exists" in condition and not isinstance(condition["exists"], bool):
        return [
            (
                (*here, "exists"),
                f"`exists:` on tag {shown} takes true or false "
                f"(found {_yaml_kind(condition['exists'])})",
            )
        ]
    return []


def _yaml_kind(value: Any) -> str:
    return _kind(value, sequence="a list", mapping="a mapping")


def _json_kind(value: Any) -> str:
    return _kind(value, sequence="an array", mapping="an object")


def _kind(value: Any, *, sequence: str, mapping: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return mapping
    if isinstance(value, list | tuple):
        return sequence
    return f"a {type(value).__name__}"


def _compile_condition(key: str, condition: Any, entity: Entity) -> dict[str, Any]:
    if isinstance(condition, str):
        return _equal(key, condition, entity)
    if "not" in condition:
        return {"__type": _NOT, "node": _equal(key, condition["not"], entity)}
    has_tag = {"__type": _HAS_TAG, "context": {"__type": _CONTEXT[entity]}, "key": key}
    return has_tag if condition["exists"] else {"__type": _NOT, "node": has_tag}


def _equal(key: str, value: str, entity: Entity) -> dict[str, Any]:
    return {
        "__type": _EQUAL,
        "left": {"__type": _TAG, "context": {"__type": _CONTEXT[entity]}, "key": key},
        "right": {"__type": _STRING, "value": value},
    }


def _fold(kind: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A balanced tree, so a long list stays shallow (the service limits nesting depth).

    The left half takes the extra node: up to three nodes this is the left fold that
    Pulumi's own clients build.
    """
    if len(nodes) == 1:
        return nodes[0]
    middle = (len(nodes) + 1) // 2
    return {
        "__type": kind,
        "left": _fold(kind, nodes[:middle]),
        "right": _fold(kind, nodes[middle:]),
    }


def _chain(node: Any, kind: str) -> list[Any]:
    """The operands of a run of `kind` nodes, left to right, whatever the fold shape."""
    operands: list[Any] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if _json_type(current) == kind:
            pending.extend((current.get("right"), current.get("left")))
        else:
            operands.append(current)
    return operands


def _readable_condition(node: Mapping[str, Any]) -> tuple[str, Any] | None:
    kind = node["__type"]
    if kind == _EQUAL:
        return _tag_equals(node)
    if kind == _HAS_TAG:
        return node["key"], {"exists": True}
    if kind == _NOT:
        inner = node["node"]
        if inner["__type"] == _EQUAL:
            pair = _tag_equals(inner)
            return None if pair is None else (pair[0], {"not": pair[1]})
        if inner["__type"] == _HAS_TAG:
            return inner["key"], {"exists": False}
    return None


def _tag_equals(node: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, value) of a well-formed Equal of a tag and a literal, in either order."""
    left, right = node["left"], node["right"]
    if right["__type"] == _TAG:
        left, right = right, left
    if left["__type"] == _TAG and right["__type"] == _STRING:
        return left["key"], right["value"]
    return None


def _rule_order(rule: Mapping[str, Any]) -> tuple[tuple[str, int, str], ...]:
    return tuple(_condition_order(key, condition) for key, condition in rule.items())


def _condition_order(key: str, condition: Any) -> tuple[str, int, str]:
    if isinstance(condition, str):
        return key, 0, condition
    if "not" in condition:
        return key, 1, condition["not"]
    return key, 2 if condition["exists"] else 3, ""


def _node_problem(node: Any, path: Path, role: str, entity: Entity) -> tuple[Path, str] | None:
    allowed, wanted = _ROLES[role]
    if not isinstance(node, Mapping):
        return path, f"expected {wanted}, got {_json_kind(node)}"
    kind = node.get("__type")
    if not isinstance(kind, str):
        return path, f"expected {wanted}: the object has no string `__type`"
    if kind not in allowed:
        return (*path, "__type"), f"{kind} cannot stand here: expected {wanted}"
    problem = _fields_problem(node, path, kind)
    if problem is not None:
        return problem
    if kind in (_TAG, _HAS_TAG):
        return _tag_problem(node, path, entity)
    value = node.get("value")
    if kind == _STRING and not isinstance(value, str):
        return (*path, "value"), f"a string literal's value must be text, not {_json_kind(value)}"
    if kind == _BOOL and not isinstance(value, bool):
        return (*path, "value"), f"a boolean literal is true or false, not {_json_kind(value)}"
    if kind == _STRING_SET:
        return _string_set_problem(node["values"], (*path, "values"))
    return None


def _fields_problem(node: Mapping[str, Any], path: Path, kind: str) -> tuple[Path, str] | None:
    """Missing or unknown fields; null counts as absent, as in the service's Go decoder.

    The service ignores unknown fields, so such a field would never come back from it and the
    rule would differ from the live one forever: refuse it instead.
    """
    for field in _FIELDS[kind]:
        if node.get(field) is None:
            return path, f"{kind} is missing {field!r}"
    for field, value in node.items():
        if field != "__type" and field not in _FIELDS[kind] and value is not None:
            return (*path, field), f"unexpected field {field!r} in {kind}"
    return None


def _tag_problem(node: Mapping[str, Any], path: Path, entity: Entity) -> tuple[Path, str] | None:
    context = node["context"]
    if not (
        isinstance(context, Mapping) and _without_nulls(context) == {"__type": _CONTEXT[entity]}
    ):
        return (*path, "context"), (
            f"{entity} rules read {entity} tags: "
            f'the context must be {{"__type": "{_CONTEXT[entity]}"}}'
        )
    if not isinstance(node["key"], str) or not node["key"]:
        return (*path, "key"), "a tag key must be a non-empty string"
    return None


def _string_set_problem(values: Any, path: Path) -> tuple[Path, str] | None:
    if not isinstance(values, list):
        return path, f"a string set's values must be a list, not {_json_kind(values)}"
    for index, value in enumerate(values):
        if not isinstance(value, str):
            return (*path, index), f"a string set holds strings, not {_json_kind(value)}"
    return None


def _children(node: Mapping[str, Any], path: Path) -> list[tuple[Any, Path, str]]:
    kind = node["__type"]
    if kind in (_OR, _AND):
        return [(node[side], (*path, side), "boolean") for side in ("left", "right")]
    if kind == _NOT:
        return [(node["node"], (*path, "node"), "boolean")]
    if kind == _EQUAL:
        return [(node[side], (*path, side), "operand") for side in ("left", "right")]
    if kind == _IN:
        return [
            (node["target"], (*path, "target"), "tag"),
            (node["values"], (*path, "values"), "set"),
        ]
    return []


def _without_nulls(value: Any) -> Any:
    """The tree as the service keeps it: a null field is an absent one."""
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _json_type(value: Any) -> Any:
    return value.get("__type") if isinstance(value, Mapping) else None


def _describe_condition(key: str, condition: Any) -> str:
    if isinstance(condition, str):
        return f"{_token(key)} = {_token(condition)}"
    if "not" in condition:
        return f"{_token(key)} != {_token(condition['not'])}"
    return f"{_token(key)} {'exists' if condition['exists'] else 'missing'}"


def _describe_node(node: Any, entity: Entity, *, nested: bool) -> str:
    """Any tree, compactly; `nested` asks for parentheses around an Or."""
    kind = _json_type(node)
    if kind == _OR:
        text = ", or ".join(_describe_node(part, entity, nested=True) for part in _chain(node, _OR))
        return f"({text})" if nested else text
    if kind == _AND:
        return " and ".join(
            _describe_node(part, entity, nested=True) for part in _chain(node, _AND)
        )
    if kind == _NOT:
        return _describe_not(node.get("node"), entity)
    if kind == _EQUAL:
        pair = _tag_value_pair(node, entity)
        if pair is not None:
            return f"{pair[0]} = {pair[1]}"
        return _infix(node.get("left"), "=", node.get("right"), entity)
    if kind == _HAS_TAG:
        return f"{_tag_label(node, entity, bare=True)} exists"
    if kind == _IN:
        return _infix(node.get("target"), "in", node.get("values"), entity)
    return _describe_operand(node, entity)


def _describe_not(inner: Any, entity: Entity) -> str:
    kind = _json_type(inner)
    if kind == _EQUAL:
        pair = _tag_value_pair(inner, entity)
        if pair is not None:
            return f"{pair[0]} != {pair[1]}"
    if kind == _HAS_TAG:
        return f"{_tag_label(inner, entity, bare=True)} missing"
    if kind == _IN:
        return _infix(inner.get("target"), "not in", inner.get("values"), entity)
    return f"not ({_describe_node(inner, entity, nested=False)})"


def _infix(left: Any, operator: str, right: Any, entity: Entity) -> str:
    return (
        f"{_describe_operand(left, entity, bare=operator != '=')} {operator} "
        f"{_describe_operand(right, entity)}"
    )


def _tag_value_pair(node: Mapping[str, Any], entity: Entity) -> tuple[str, str] | None:
    left: Any = node.get("left")
    right: Any = node.get("right")
    if _json_type(right) == _TAG:
        left, right = right, left
    if (
        _json_type(left) == _TAG
        and _json_type(right) == _STRING
        and isinstance(right.get("value"), str)
    ):
        return _tag_label(left, entity, bare=True), _token(right["value"])
    return None


def _describe_operand(node: Any, entity: Entity, *, bare: bool = False) -> str:
    kind = _json_type(node)
    if kind == _TAG:
        return _tag_label(node, entity, bare=bare)
    if kind == _STRING_SET and isinstance(node.get("values"), list):
        return "(" + ", ".join(_literal(value, bare=True) for value in node["values"]) + ")"
    if isinstance(kind, str) and "value" in node and kind.startswith("PermissionLiteral"):
        return _literal(node["value"], bare=False)
    if kind in _COMPOUND:
        return _describe_node(node, entity, nested=True)
    return f"<{kind}>" if isinstance(kind, str) else "<?>"


def _literal(value: Any, *, bare: bool) -> str:
    if isinstance(value, str):
        return _token(value) if bare else _quote(value)
    return canonical_json(value)


def _tag_label(node: Mapping[str, Any], entity: Entity, *, bare: bool) -> str:
    """A tag's key; `bare=False` marks it as a tag where a literal could stand instead."""
    key = node.get("key")
    label = _token(key) if isinstance(key, str) else "<?>"
    context = _json_type(node.get("context"))
    if context != _CONTEXT[entity]:
        owner = _ENTITY_OF_CONTEXT.get(context, f"<{context}>")
        return f"{owner} tag {label}"
    return label if bare else f"tag {label}"


_BARE_TOKEN = re.compile(r"[\w.:/@+-]+")
_WORDS = frozenset({"and", "or", "not", "in", "exists", "missing", "tag"})


def _token(text: str) -> str:
    """The text as is when nothing in it could be misread, else quoted."""
    if _BARE_TOKEN.fullmatch(text) and text.lower() not in _WORDS:
        return text
    return _quote(text)


def _quote(text: str) -> str:
    escaped = "".join(
        "\\" + char
        if char in '"\\'
        else char
        if char.isprintable()
        else f"\\u{ord(char):04x}"
        if ord(char) <= 0xFFFF
        else f"\\U{ord(char):08x}"
        for char in text
    )
    return f'"{escaped}"'
