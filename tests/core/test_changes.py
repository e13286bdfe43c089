"""Change kinds: each one class that carries its order, what it is about, and its description."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from builders import applied
from pgsync.core import changes
from pgsync.core.changes import (
    AddAccount,
    AddPack,
    AddStack,
    BatchUpdate,
    Change,
    ChangeKind,
    ConfigurePack,
    Description,
    RemoveAccount,
    RemoveAccountRule,
    RemovePack,
    RemoveStack,
    RemoveStackRule,
    Rename,
    Reshape,
    SetAccountRule,
    SetAgentPool,
    SetStackRule,
    UpgradePack,
    change_order,
)
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import MatchRule, RuleEntity, RulePreview, StackRef

KINDS: tuple[type[ChangeKind], ...] = get_args(Change)


def rule(entity: RuleEntity, env: str) -> MatchRule:
    expression = compile_rules([{"env": env}], entity)
    assert expression is not None
    return match_rule(expression, entity)


EXAMPLES: tuple[Change, ...] = (
    Rename("prod", "production"),
    Reshape(("stacks", "stacks"), ("preventative", "audit")),
    RemovePack(applied("cost", "2.0.0")),
    AddPack(applied("aws", "1.3.0", "mandatory")),
    UpgradePack(applied("aws", "1.0.0"), applied("aws", "1.3.0")),
    ConfigurePack(applied("aws", "1.0.0", "mandatory"), applied("aws", "1.0.0", "advisory")),
    RemoveStack(StackRef("web", "old")),
    AddStack(StackRef("web", "prod")),
    RemoveAccount("aws-old"),
    AddAccount("aws-prod"),
    SetStackRule(None, rule("stack", "prod"), RulePreview(3, 10)),
    RemoveStackRule(rule("stack", "dev"), RulePreview(1, 10)),
    SetAccountRule(rule("account", "dev"), rule("account", "prod")),
    RemoveAccountRule(rule("account", "prod")),
    SetAgentPool("pool-1", "pool-2"),
)


def test_change_names_every_kind_defined_in_the_module() -> None:
    defined = {
        cls
        for _, cls in inspect.getmembers(changes, inspect.isclass)
        if issubclass(cls, ChangeKind) and "kind" in vars(cls)
    }
    assert defined == set(KINDS)


def test_kinds_sort_in_the_order_apply_sends_them() -> None:
    assert [kind.kind for kind in sorted(KINDS, key=lambda k: k.order)] == [
        "rename",
        "replace",
        "removePolicyPack",
        "addPolicyPack",
        "upgradePolicyPack",
        "configurePolicyPack",
        "removeStack",
        "addStack",
        "removeAccount",
        "addAccount",
        "setStackMatchRule",
        "removeStackMatchRule",
        "setAccountMatchRule",
        "removeAccountMatchRule",
        "setAgentPool",
    ]


def test_every_kind_has_a_position_and_a_json_name_of_its_own() -> None:
    assert len({kind.order for kind in KINDS}) == len(KINDS)
    assert len({kind.kind for kind in KINDS}) == len(KINDS)


def test_the_examples_hold_one_change_of_every_kind() -> None:
    assert [type(change) for change in EXAMPLES] == sorted(KINDS, key=lambda k: k.order)


def test_every_kind_has_a_description() -> None:
    for change in EXAMPLES:
        described = change.description
        assert described.sign in {"+", "-", "~", "→", "±"}, change
        assert described.text.strip(), change


def test_every_kind_says_what_it_changes() -> None:
    assert {type(c).__name__: c.about for c in EXAMPLES} == {
        "Rename": "name",
        "Reshape": "shape",
        "RemovePack": "pack",
        "AddPack": "pack",
        "UpgradePack": "pack",
        "ConfigurePack": "pack",
        "RemoveStack": "stack",
        "AddStack": "stack",
        "RemoveAccount": "account",
        "AddAccount": "account",
        "SetStackRule": "stack rule",
        "RemoveStackRule": "stack rule",
        "SetAccountRule": "account rule",
        "RemoveAccountRule": "account rule",
        "SetAgentPool": "agent pool",
    }


def test_a_description_is_worked_out_once() -> None:
    change = ConfigurePack(
        applied("aws", "1.0.0", "mandatory"), applied("aws", "1.0.0", "advisory")
    )
    assert change.description is change.description
    assert change.config_changes == ('all.enforcementLevel: "mandatory" → "advisory"',)


def test_a_description_is_not_part_of_the_value() -> None:
    described = AddStack(StackRef("web", "prod"))
    assert described.description.text == "stack web/prod"
    assert described == AddStack(StackRef("web", "prod"))
    assert hash(described) == hash(AddStack(StackRef("web", "prod")))


def test_a_new_kind_needs_only_its_class() -> None:
    @dataclass(frozen=True, slots=True)
    class SetColour(ChangeKind):
        colour: str
        kind = "setColour"
        order = 100
        about = "colour"
        counted = False

        @property
        def subject(self) -> str:
            return self.colour

        def batch_update(self) -> BatchUpdate:
            return BatchUpdate({"colour": self.colour})

        def _describe(self) -> Description:
            return Description("~", f"colour {self.colour}")

    new = SetColour("blue")
    mixed = sorted([new, *reversed(EXAMPLES)], key=change_order)
    assert mixed == [*EXAMPLES, new]
    assert (new.kind, new.about, new.many, new.destructive, new.may_unprotect) == (
        "setColour",
        "colour",
        False,
        False,
        False,
    )
    assert new.description == ("~", "colour blue", ())
    assert new.batch_update() == ({"colour": "blue"}, ())


def test_every_kind_has_its_update_object_or_is_sent_another_way() -> None:
    # Each example answers: a kind that forgot its update object would raise here.
    assert {type(c).__name__: c.batch_update() for c in EXAMPLES} == {
        "Rename": None,
        "Reshape": None,
        "RemovePack": BatchUpdate(
            {"removePolicyPack": applied("cost", "2.0.0").to_api(with_settings=False)}
        ),
        "AddPack": BatchUpdate({"addPolicyPack": applied("aws", "1.3.0", "mandatory").to_api()}),
        "UpgradePack": BatchUpdate({"addPolicyPack": applied("aws", "1.3.0").to_api()}),
        "ConfigurePack": BatchUpdate(
            {"addPolicyPack": applied("aws", "1.0.0", "advisory").to_api()}
        ),
        "RemoveStack": BatchUpdate({"removeStack": {"name": "old", "routingProject": "web"}}),
        "AddStack": BatchUpdate({"addStack": {"name": "prod", "routingProject": "web"}}),
        "RemoveAccount": BatchUpdate({"removeInsightsAccount": {"name": "aws-old"}}),
        "AddAccount": BatchUpdate({"addInsightsAccount": {"name": "aws-prod"}}),
        "SetStackRule": BatchUpdate({"stackMatchRule": rule("stack", "prod").expression}),
        "RemoveStackRule": BatchUpdate({"removeStackMatchRule": True}),
        "SetAccountRule": BatchUpdate({"accountMatchRule": rule("account", "prod").expression}),
        "RemoveAccountRule": BatchUpdate({"removeAccountMatchRule": True}),
        "SetAgentPool": BatchUpdate({"agentPoolId": "pool-2"}),
    }


def test_a_pack_update_locates_the_values_its_file_marks_secret() -> None:
    pack = dataclasses.replace(
        applied("aws", "1.3.0"), secret_paths=frozenset({("db", "password"), ("api", "key")})
    )
    for change in (AddPack(pack), UpgradePack(applied("aws", "1.0.0"), pack)):
        update = change.batch_update()
        assert update is not None
        assert update.secret_paths == (
            ("addPolicyPack", "config", "api", "key"),
            ("addPolicyPack", "config", "db", "password"),
        )


def test_what_may_take_protection_away_is_a_removal_new_pack_settings_or_a_rule() -> None:
    assert [type(c).__name__ for c in EXAMPLES if c.may_unprotect] == [
        "RemovePack",
        "UpgradePack",
        "ConfigurePack",
        "RemoveStack",
        "RemoveAccount",
        "SetStackRule",
        "RemoveStackRule",
        "SetAccountRule",
        "RemoveAccountRule",
    ]


names = st.text(st.sampled_from("abAB-/ é"), min_size=1, max_size=4)
stack_refs = st.builds(StackRef, names, names)
aws_packs = st.builds(applied, st.just("aws"), st.sampled_from(["1.0.0", "1.3.0"]))


def rules(entity: RuleEntity) -> st.SearchStrategy[MatchRule]:
    return st.builds(rule, st.just(entity), st.sampled_from(["prod", "dev", "test", "stage"]))


any_change: st.SearchStrategy[Change] = st.one_of(
    st.builds(Rename, names, names),
    st.builds(Reshape, st.tuples(names, names), st.tuples(names, names)),
    st.builds(RemovePack, aws_packs | st.just(applied("cost", "2.0.0"))),
    st.builds(AddPack, aws_packs | st.just(applied("cost", "2.0.0"))),
    st.builds(UpgradePack, aws_packs, aws_packs),
    st.builds(ConfigurePack, aws_packs, aws_packs),
    st.builds(RemoveStack, stack_refs),
    st.builds(AddStack, stack_refs),
    st.builds(RemoveAccount, names),
    st.builds(AddAccount, names),
    st.builds(SetStackRule, st.none() | rules("stack"), rules("stack")),
    st.builds(RemoveStackRule, rules("stack")),
    st.builds(SetAccountRule, st.none() | rules("account"), rules("account")),
    st.builds(RemoveAccountRule, rules("account")),
    st.builds(SetAgentPool, names, names),
)


@given(st.lists(any_change, max_size=30), st.data())
def test_sorting_changes_is_the_same_whatever_order_they_come_in(
    found: list[Change], data: st.DataObject
) -> None:
    # A group has one change per kind and subject: those are the changes that sort apart.
    distinct = list({change_order(c): c for c in found}.values())
    shuffled = data.draw(st.permutations(distinct))
    assert sorted(shuffled, key=change_order) == sorted(distinct, key=change_order)


@given(st.lists(any_change, max_size=30))
def test_sorted_changes_go_kind_by_kind_in_kind_order(found: list[Change]) -> None:
    orders = [c.order for c in sorted(found, key=change_order)]
    assert orders == sorted(orders)


@given(any_change, any_change, any_change)
def test_the_order_of_changes_is_total_and_transitive(a: Change, b: Change, c: Change) -> None:
    ka, kb, kc = change_order(a), change_order(b), change_order(c)
    assert [ka < kb, ka == kb, ka > kb].count(True) == 1
    if ka <= kb <= kc:
        assert ka <= kc
    if ka == kb:
        assert type(a) is type(b)
