"""Pack sets, templates, `extends` and `{use: SET}` (contract §6.2), as loading sees them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pgsync.core.errors import ValidationFailed
from pgsync.core.model import DesiredGroup, DesiredState
from pgsync.load.desired import load_desired

HEAD = """\
organization: acme
packSets:
  baseline:
    - {name: aws, versionTag: "1.0.0", enforcementLevel: mandatory}
    - {name: cost, versionTag: "2.0.0"}
"""


def load(tmp_path: Path, text: str) -> DesiredState:
    path = tmp_path / "groups.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_desired([path])


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        load(tmp_path, text)
    return [f"{p.location.line}:{p.location.col}: {p.message}" for p in failed.value.problems]


def group(state: DesiredState, name: str) -> DesiredGroup:
    return next(g for g in state.groups if g.name == name)


def packs(state: DesiredState, name: str) -> dict[str, str]:
    return {p.name: p.config_json for p in group(state, name).packs or ()}


def test_use_inserts_the_sets_packs(tmp_path: Path) -> None:
    state = load(tmp_path, HEAD + "policyGroups:\n  - {name: g, policyPacks: [{use: baseline}]}\n")
    assert packs(state, "g") == {"aws": '{"all":{"enforcementLevel":"mandatory"}}', "cost": "{}"}


def test_a_direct_entry_replaces_the_sets_entry_wherever_it_stands(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        policyGroups:
          - name: g
            policyPacks:
              - {name: aws, versionTag: "1.3.0"}
              - {use: baseline}
        """)
    state = load(tmp_path, text)
    aws = next(p for p in group(state, "g").packs or () if p.name == "aws")
    assert (aws.version_tag, aws.location and aws.location.line, aws.origin) == ("1.3.0", 9, None)


def test_a_pack_from_a_set_is_located_at_the_sets_line(tmp_path: Path) -> None:
    state = load(tmp_path, HEAD + "policyGroups:\n  - {name: g, policyPacks: [{use: baseline}]}\n")
    cost = next(p for p in group(state, "g").packs or () if p.name == "cost")
    assert cost.location is not None and cost.location.line == 5
    assert cost.origin is not None and cost.origin.pack_set == "baseline"
    assert cost.origin.set_used_at is not None and cost.origin.set_used_at.line == 7


def test_extends_gives_the_templates_keys_the_group_does_not_set(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        templates:
          audited: {mode: audit, stacks: [web/dev], policyPacks: [{use: baseline}]}
        policyGroups:
          - {name: g, extends: audited, stacks: [web/prod]}
        """)
    found = group(load(tmp_path, text), "g")
    assert (found.mode, [str(s) for s in found.stacks or ()]) == ("audit", ["web/prod"])
    assert [p.name for p in found.packs or ()] == ["aws", "cost"]


def test_a_groups_own_policy_packs_replace_the_templates_whole(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        templates:
          t: {policyPacks: [{use: baseline}]}
        policyGroups:
          - {name: g, extends: t, policyPacks: [{name: aws, versionTag: "1.0.0"}]}
        """)
    assert packs(load(tmp_path, text), "g") == {"aws": "{}"}


def test_an_unknown_set_is_an_error_where_it_is_used(tmp_path: Path) -> None:
    text = HEAD + "policyGroups:\n  - {name: g, policyPacks: [{use: basline}]}\n"
    assert problems(tmp_path, text) == [
        "7:35: unknown pack set 'basline' (defined in packSets: baseline)"
    ]


def test_an_unknown_template_is_an_error_where_it_is_extended(tmp_path: Path) -> None:
    text = "organization: acme\npolicyGroups:\n  - {name: g, extends: prod}\n"
    assert problems(tmp_path, text) == ["3:24: unknown template 'prod' (no templates)"]


def test_a_pack_in_two_sets_is_an_error_citing_both_sets_lines(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
          guard:
            - {name: aws, versionTag: "1.3.0"}
        policyGroups:
          - name: g
            policyPacks:
              - use: baseline
              - use: guard
        """)
    assert problems(tmp_path, text) == [
        "12:14: pack 'aws' comes from pack set 'guard' (line 7) and from pack set 'baseline'"
        " (line 4, used at line 11); list it directly to choose its settings"
    ]


def test_a_direct_entry_settles_a_pack_that_two_sets_hold(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
          guard:
            - {name: aws, versionTag: "1.3.0"}
        policyGroups:
          - name: g
            policyPacks: [{use: baseline}, {use: guard}, {name: aws, versionTag: "1.3.0"}]
        """)
    assert packs(load(tmp_path, text), "g") == {"aws": "{}", "cost": "{}"}


def test_a_set_used_twice_in_one_list_is_an_error(tmp_path: Path) -> None:
    text = HEAD + "policyGroups:\n  - {name: g, policyPacks: [{use: baseline}, {use: baseline}]}\n"
    assert problems(tmp_path, text) == [
        "7:52: pack set 'baseline' is used twice in this list (first at line 7, column 35)"
    ]


def test_a_set_may_not_use_a_set(tmp_path: Path) -> None:
    text = HEAD + "  more:\n    - {use: baseline}\npolicyGroups: []\n"
    assert problems(tmp_path, text) == [
        "7:8: a pack set lists packs only (sets do not use sets): list its packs here"
    ]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("name", "each group names itself"),
        ("previously", "each group names itself"),
        ("extends", "templates do not extend templates"),
    ],
)
def test_a_template_may_not_name_a_group_or_extend_a_template(
    tmp_path: Path, key: str, why: str
) -> None:
    value = "[x]" if key == "previously" else "x"
    text = f"organization: acme\ntemplates:\n  t: {{{key}: {value}}}\npolicyGroups: []\n"
    assert problems(tmp_path, text) == [f"3:7: a template cannot set '{key}': {why}"]


def test_a_groups_rules_are_checked_on_the_expanded_group(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        organization: acme
        templates:
          t: {accounts: [aws-prod]}
        policyGroups:
          - {name: g, extends: t}
        """)
    assert problems(tmp_path, text) == [
        "3:7: 'accounts' needs mode: audit (a preventative group holds stacks only)"
    ]


def test_unused_sets_and_templates_are_warnings_at_their_lines(tmp_path: Path) -> None:
    text = HEAD + "templates:\n  t: {mode: audit}\npolicyGroups: []\n"
    state = load(tmp_path, text)
    assert [(w.location.line, w.message) for w in state.warnings] == [
        (3, "pack set 'baseline' is not used by any group"),
        (7, "template 't' is not used by any group"),
    ]


def test_a_file_without_sets_or_templates_loads_as_before(tmp_path: Path) -> None:
    state = load(tmp_path, "organization: acme\npolicyGroups:\n  - {name: g}\n")
    assert state.warnings == () and group(state, "g").location is not None


def test_an_unknown_key_in_a_template_lists_only_what_a_template_may_set(tmp_path: Path) -> None:
    text = "organization: acme\ntemplates:\n  t: {stack: [a/b]}\npolicyGroups: []\n"
    [found] = problems(tmp_path, text)
    assert found.startswith("3:7: unknown key 'stack', did you mean 'stacks'?")
    assert "(allowed: entityType, mode," in found


def test_a_hidden_character_in_a_sets_pack_name_is_named_as_a_pack_name(tmp_path: Path) -> None:
    text = 'organization: acme\npackSets:\n  s: [{name: "aw\\u200bs", versionTag: "1"}]\n'
    [found] = problems(tmp_path, text + "policyGroups: []\n")
    assert "is not allowed in a pack name" in found


def test_a_templates_manage_setting_is_the_groups(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        organization: acme
        templates:
          shared: {manage: {stacks: additive}}
        policyGroups:
          - {name: g, extends: shared, stacks: [web/prod]}
        """)
    assert group(load(tmp_path, text), "g").additive == frozenset({"stacks"})


def load_files(tmp_path: Path, **texts: str) -> DesiredState:
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_desired([tmp_path])


def test_a_set_defined_in_one_file_serves_the_groups_of_every_file(tmp_path: Path) -> None:
    state = load_files(
        tmp_path,
        base=HEAD + "policyGroups: []\n",
        team="organization: acme\npolicyGroups:\n  - {name: g, policyPacks: [{use: baseline}]}\n",
    )
    cost = next(p for p in group(state, "g").packs or () if p.name == "cost")
    assert str(cost.location) == f"{tmp_path}/base.yaml:5:14"
    assert state.warnings == ()


def test_a_template_from_another_file_locates_its_members_there(tmp_path: Path) -> None:
    state = load_files(
        tmp_path,
        base="organization: acme\ntemplates:\n  t: {stacks: [web/dev]}\npolicyGroups: []\n",
        team="organization: acme\npolicyGroups:\n  - {name: g, extends: t}\n",
    )
    assert str(group(state, "g").where("web/dev")) == f"{tmp_path}/base.yaml:3:16"


def test_a_name_defined_in_two_files_is_an_error_at_the_second(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as failed:
        load_files(tmp_path, a=HEAD + "policyGroups: []\n", b=HEAD + "policyGroups: []\n")
    assert [str(p) for p in failed.value.problems] == [
        f"{tmp_path}/b.yaml:3:3: pack set 'baseline' is already defined at {tmp_path}/a.yaml:3:3"
    ]


def test_a_pack_from_two_files_sets_cites_each_sets_file(tmp_path: Path) -> None:
    team = textwrap.dedent("""\
        organization: acme
        packSets:
          guard: [{name: aws, versionTag: "1.3.0"}]
        policyGroups:
          - {name: g, policyPacks: [{use: baseline}, {use: guard}]}
        """)
    with pytest.raises(ValidationFailed) as failed:
        load_files(tmp_path, base=HEAD + "policyGroups: []\n", team=team)
    assert [str(p) for p in failed.value.problems] == [
        f"{tmp_path}/team.yaml:5:52: pack 'aws' comes from pack set 'guard' (line 3) and from"
        f" pack set 'baseline' ({tmp_path}/base.yaml:4, used at line 5); list it directly to"
        " choose its settings"
    ]
