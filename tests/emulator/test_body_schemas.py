"""The emulator judges a body as jsonschema's Draft 7 validator does, only faster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from json_mutations import keys_of, mutated
from pgsync.emulator import schemas, views
from pgsync.emulator.fixture import demo_fixture
from pgsync.emulator.state import APIS, Api

EMULATOR = Path(__file__).parents[2] / "src" / "pgsync" / "emulator"
_ORG = demo_fixture().new_state().org("acme")
_UPDATES = [
    {"addStack": {"name": "dev", "routingProject": "web"}},
    {"removeStack": {"name": "dev", "routingProject": "web"}},
    {"addPolicyPack": {"name": "aws", "versionTag": "1.0.0"}},
    {"newName": "renamed"},
]
STARTS: list[tuple[Any, Any]] = [
    (schemas.validator("NewPolicyGroupRequest"), {"name": "g", "entityType": "stacks"}),
    (schemas.validator("NewPolicyGroupRequest"), {"entityType": "stacks"}),
    (schemas.update_validator("current", batch=True), _UPDATES),
    (schemas.update_validator("legacy", batch=False), _UPDATES[0]),
    *((schemas.validator("PolicyGroup"), views.group_view(_ORG, g)) for g in _ORG.groups.values()),
]


def _names(api: Api) -> list[str]:
    document = json.loads((EMULATOR / schemas._DOCUMENTS[api]).read_text(encoding="utf-8"))
    return sorted(document["components"]["schemas"])


@pytest.mark.parametrize(("api", "name"), [(api, name) for api in APIS for name in _names(api)])
def test_every_component_schema_compiles_to_a_predicate(api: Api, name: str) -> None:
    checker = schemas.validator(name, api)
    bodies: tuple[object, ...] = ({}, [], None)
    for body in bodies:
        assert checker.accepts(body) == checker.validator.is_valid(body)


def test_the_starting_bodies_hold_both_verdicts() -> None:
    verdicts = {checker.validator.is_valid(body) for checker, body in STARTS}
    assert verdicts == {True, False}


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(STARTS) - 1), st.integers(1, 3), st.data())
def test_a_mutated_body_gets_draft_7s_verdict(start: int, mutations: int, data: Any) -> None:
    checker, body = STARTS[start]
    keys = keys_of(checker.validator.schema)
    for _ in range(mutations):
        body = mutated(body, data, keys)
    assert checker.accepts(body) == Draft7Validator(checker.validator.schema).is_valid(body)
