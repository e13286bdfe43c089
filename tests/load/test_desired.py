"""load_desired(): files to DesiredState, or every problem of every file at its file:line:col."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgsync.core.errors import Location, ValidationFailed
from pgsync.core.model import InputFile, StackRef
from pgsync.load.desired import load_desired
from pgsync.load.packconfig import Placeholder

DATA = Path(__file__).parents[1] / "data" / "desired"
GROUP_KEYS = (
    "name, previously, extends, entityType, mode, agentPoolId, state, stacks, accounts,"
    " stackMatch, accountMatch, policyPacks, manage"
)


@pytest.fixture(autouse=True)
def in_data_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths, so that messages name files as a user would give them."""
    monkeypatch.chdir(DATA)


def problems(*paths: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        load_desired(list(paths))
    return [str(problem) for problem in caught.value.problems]


# --- YAML ---------------------------------------------------------------------------------


def test_syntax_error_points_at_the_problem_mark() -> None:
    assert problems("bad-syntax.yaml") == [
        "bad-syntax.yaml:5:9: invalid YAML: while parsing a flow sequence (line 4, column 13),"
        " did not find expected ',' or ']'"
    ]


def test_tab_indentation_points_at_the_tab() -> None:
    assert problems("bad-tabs.yaml") == [
        "bad-tabs.yaml:4:1: invalid YAML: a tab character here (YAML indents with spaces only)"
    ]


def test_non_utf8_file_points_at_the_bad_byte() -> None:
    assert problems("bad-encoding.yaml") == ["bad-encoding.yaml:3:14: not valid UTF-8 (byte 0xe9)"]


def test_duplicate_key_points_at_the_second_key() -> None:
    assert problems("bad-duplicate-key.yaml") == [
        "bad-duplicate-key.yaml:5:5: duplicate key 'mode' (first at line 4, column 5)"
    ]


def test_unsupported_tag_points_at_the_value() -> None:
    assert problems("bad-tag.yaml") == [
        "bad-tag.yaml:4:18: unsupported YAML tag !!binary (only strings, numbers, true/false,"
        " null, lists and mappings are allowed)"
    ]


def test_empty_file_is_an_error() -> None:
    assert problems("empty.yaml") == ["empty.yaml:1:1: empty file"]


def test_top_level_list_is_an_error() -> None:
    assert problems("bad-top-level.yaml") == [
        "bad-top-level.yaml:1:1: the top level must be a mapping with organization and policyGroups"
    ]


# --- schema -------------------------------------------------------------------------------


def test_unknown_key_points_at_the_key() -> None:
    assert problems("bad-unknown-key.yaml") == [
        f"bad-unknown-key.yaml:4:5: unknown key 'stack', did you mean 'stacks'?"
        f" (allowed: {GROUP_KEYS})"
    ]


def test_missing_required_key_points_at_the_parent_mapping() -> None:
    assert problems("bad-missing-key.yaml") == [
        "bad-missing-key.yaml:5:9: missing required key 'versionTag'"
    ]


def test_misspelt_level_points_at_the_value() -> None:
    assert problems("bad-enum.yaml") == [
        "bad-enum.yaml:7:27: expected one of advisory, mandatory, disabled, remediate,"
        " got 'mandatroy'"
    ]


def test_wrong_type_names_both_kinds() -> None:
    assert problems("bad-type.yaml") == ["bad-type.yaml:4:13: expected a list, got a string"]


def test_malformed_stack_references_point_at_each_item() -> None:
    assert problems("bad-stack-refs.yaml") == [
        "bad-stack-refs.yaml:5:9: expected a stack as 'project/stack', got 'payments-prod'",
        "bad-stack-refs.yaml:7:15: expected a name without '/' or spaces, got ''",
        "bad-stack-refs.yaml:8:9: expected a string or a mapping,"
        ' got the number 42; quote it: "42"',
    ]


def test_group_name_with_a_space_inside_is_valid() -> None:
    assert [g.name for g in load_desired(["valid-spaced-name.yaml"]).groups] == ["Prod Stacks"]


def test_group_name_beginning_with_a_space_is_refused() -> None:
    assert problems("bad-group-name.yaml") == [
        "bad-group-name.yaml:3:11: expected a group name: 1 to 100 letters, digits, '-', '_',"
        " '.' or spaces, not beginning or ending with a space, not '.' or '..', got ' prod env'"
    ]


def test_empty_organization_is_refused() -> None:
    assert problems("bad-empty-organization.yaml") == [
        "bad-empty-organization.yaml:1:15: must not be empty"
    ]


# --- rules beyond the schema ----------------------------------------------------------------


def test_duplicate_group_names_include_former_names() -> None:
    assert problems("bad-duplicate-names.yaml") == [
        "bad-duplicate-names.yaml:5:11: group name 'prod' is already used at"
        " bad-duplicate-names.yaml:4:18",
        "bad-duplicate-names.yaml:7:18: group name 'production' is already used at"
        " bad-duplicate-names.yaml:3:11",
    ]


def test_duplicate_group_names_across_files_point_at_the_later_file() -> None:
    found = problems("bad-duplicate-names-other.yaml", "bad-duplicate-names.yaml")
    assert (
        "bad-duplicate-names.yaml:6:11: group name 'staging' is already used at"
        " bad-duplicate-names-other.yaml:3:11"
    ) in found


def test_pack_listed_twice_points_at_the_second() -> None:
    assert problems("bad-pack-twice.yaml") == [
        "bad-pack-twice.yaml:9:15: pack 'aws-guardrails' is listed twice"
        " (first at line 5, column 15)"
    ]


def test_accounts_on_a_preventative_group_point_at_their_key() -> None:
    assert problems("bad-wrong-list.yaml") == [
        "bad-wrong-list.yaml:7:5: 'accounts' needs mode: audit"
        " (a preventative group holds stacks only)",
    ]


def test_an_audit_group_may_hold_stacks_and_accounts() -> None:
    (group,) = load_desired(["valid-audit-mixed.yaml"]).groups
    assert (group.mode, group.stacks, group.accounts) == (
        "audit",
        frozenset({StackRef("payments", "prod")}),
        frozenset({"aws-prod"}),
    )


def test_level_contradicting_config_all_points_at_the_level() -> None:
    assert problems("bad-level-contradiction.yaml") == [
        "bad-level-contradiction.yaml:7:27: enforcementLevel 'mandatory' contradicts"
        " 'advisory' in config.all",
        "bad-level-contradiction.yaml:13:27: enforcementLevel 'advisory' contradicts"
        " 'disabled' in config.all",
    ]


def test_metadata_is_refused_as_name_and_former_name() -> None:
    reserved = "'metadata' cannot be a group name: it would shadow the API's metadata route"
    assert problems("bad-metadata.yaml") == [
        f"bad-metadata.yaml:3:11: {reserved}",
        f"bad-metadata.yaml:5:18: {reserved}",
        "bad-metadata.yaml:5:18: group name 'metadata' is already used at bad-metadata.yaml:3:11",
    ]


def test_default_groups_cannot_be_absent() -> None:
    assert problems("bad-default-absent.yaml") == [
        "bad-default-absent.yaml:4:12: default-policy-group is a default group and cannot be"
        " deleted",
        "bad-default-absent.yaml:6:12: default-accounts-policy-group is a default group and"
        " cannot be deleted",
    ]


def test_default_groups_keep_their_type_and_name() -> None:
    assert problems("bad-default-shape.yaml") == [
        "bad-default-shape.yaml:4:17: default-policy-group always has entityType stacks",
        "bad-default-shape.yaml:6:5: default-accounts-policy-group cannot be renamed, so it has"
        " no former names",
        "bad-default-shape.yaml:8:18: 'default-policy-group' is a default group, which cannot be"
        " renamed",
        "bad-default-shape.yaml:8:18: group name 'default-policy-group' is already used at"
        " bad-default-shape.yaml:3:11",
    ]


def test_different_organization_points_at_the_second_file() -> None:
    assert problems("prune-false.yaml", "org-other.yaml") == [
        "org-other.yaml:1:15: organization is 'globex' here but 'acme' in prune-false.yaml;"
        " all files must agree"
    ]


def test_different_prune_points_at_the_second_file() -> None:
    assert problems("prune-true.yaml", "prune-false.yaml") == [
        "prune-false.yaml:2:8: prune is false here but true in prune-true.yaml; all files must"
        " agree"
    ]


def test_repeated_stack_or_account_points_at_the_repeat() -> None:
    assert problems("bad-duplicate-members.yaml") == [
        "bad-duplicate-members.yaml:7:9: stack 'payments/prod' is listed twice"
        " (first at line 5, column 9)",
        "bad-duplicate-members.yaml:11:39: account 'aws-prod' is listed twice"
        " (first at line 11, column 16)",
    ]


def test_secret_misuse_points_at_the_secret() -> None:
    assert problems("bad-secrets.yaml") == [
        "bad-secrets.yaml:10:15: secret value not filled in",
        "bad-secrets.yaml:13:15: 'fn::secret' must be the only key here",
        "bad-secrets.yaml:15:13: a policy's whole config cannot be a secret; use 'fn::secret'"
        " on values",
        "bad-secrets.yaml:18:17: 'fn::secret' cannot be used inside a list; use it in a mapping",
    ]


def secret_file(tmp_path: Path, settings: str, extra: str = "", name: str = "s.yaml") -> Path:
    """A file with one pack whose policy `p` has the given settings (a flow mapping)."""
    path = tmp_path / name
    path.write_text(
        f"organization: acme\n{extra}policyGroups:\n  - name: {name[:-5]}\n    policyPacks:\n"
        f"      - name: aws\n        versionTag: '1'\n        config:\n          p: {settings}\n",
        encoding="utf-8",
    )
    return path


def secret_paths(*paths: Path) -> list[frozenset[tuple[str, ...]]]:
    state = load_desired(list(paths))
    return [pack.secret_paths for group in state.groups for pack in group.packs or ()]


def test_settings_with_secret_looking_names_are_secret(tmp_path: Path) -> None:
    settings = (
        "{DB_Password: a, api-key: {id: 1}, users: [{name: x, authToken: y}], port: 1,"
        " nested: {privateKey: z}}"
    )
    assert secret_paths(secret_file(tmp_path, settings)) == [
        frozenset(
            {
                ("p", "DB_Password"),
                ("p", "api-key"),
                ("p", "users"),
                ("p", "nested", "privateKey"),
            }
        )
    ]


def test_policy_names_are_not_setting_names(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "organization: acme\npolicyGroups:\n  - name: s\n    policyPacks:\n"
        "      - name: aws\n        versionTag: '1'\n        config:\n"
        "          no-secrets: advisory\n          token-policy: {enforcementLevel: advisory}\n",
        encoding="utf-8",
    )
    assert secret_paths(path) == [frozenset()]


def test_secret_keys_replace_the_defaults_and_combine_across_files(tmp_path: Path) -> None:
    settings = "{password: a, dbConn: b, cert: c}"
    first = secret_file(tmp_path, settings, "safety: {secretKeys: [db-conn]}\n", "a.yaml")
    second = secret_file(tmp_path, settings, "safety: {secretKeys: [CERT]}\n", "b.yaml")
    third = secret_file(tmp_path, settings, "", "c.yaml")
    assert secret_paths(first) == [frozenset({("p", "dbConn")})]
    assert secret_paths(first, second, third) == [frozenset({("p", "dbConn"), ("p", "cert")})] * 3
    empty = secret_file(tmp_path, settings, "safety: {secretKeys: []}\n", "d.yaml")
    assert secret_paths(empty) == [frozenset()]


def test_malformed_safety_is_reported(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "{}", "safety: {secretKeys: ['', '-', 3], other: 1}\n")
    assert problems(str(path)) == [
        f"{path}:2:23: expected a key name with a letter or digit, got ''",
        f"{path}:2:27: expected a key name with a letter or digit, got '-'",
        f'{path}:2:32: expected a string, got the number 3; quote it: "3"',
        f"{path}:2:36: unknown key 'other' (allowed: maxDeletePercent, maxUnprotected, secretKeys)",
    ]


def test_errors_quote_no_value_under_a_secret_looking_key(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "organization: acme\npolicyGroups:\n  - name: s\n    policyPacks:\n"
        "      - name: aws\n        versionTag: '1'\n        config:\n"
        "          apiKey: abc123\n          other: abc123\n",
        encoding="utf-8",
    )
    assert problems(str(path)) == [
        f"{path}:8:19: invalid value [secret] (schema rule 'pattern')",
        f"{path}:9:18: expected one of advisory, mandatory, disabled, remediate, got 'abc123'",
    ]


def test_placeholders_are_errors_unless_allowed(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "{password: {fn::secret: null}, port: 1}")
    assert problems(str(path)) == [f"{path}:8:26: secret value not filled in"]
    placeholders: list[Placeholder] = []
    state = load_desired([path], placeholders=placeholders)
    assert placeholders == [Placeholder(Location(str(path), 8, 26), "s", "aws", ("p", "password"))]
    [pack] = state.groups[0].packs or ()
    assert pack.config_json == '{"p":{"password":null,"port":1}}'
    assert pack.secret_paths == frozenset({("p", "password")})


# --- gathering ------------------------------------------------------------------------------


def test_every_kind_of_problem_in_a_file_is_reported_in_order() -> None:
    assert problems("bad-many.yaml") == [
        f"bad-many.yaml:4:5: unknown key 'stack', did you mean 'stacks'? (allowed: {GROUP_KEYS})",
        "bad-many.yaml:5:11: 'metadata' cannot be a group name: it would shadow the API's"
        " metadata route",
        "bad-many.yaml:7:11: expected one of preventative, audit, got 'audti'",
        "bad-many.yaml:9:23: stack 'web/dev' is listed twice (first at line 9, column 14)",
        "bad-many.yaml:11:5: duplicate key 'mode' (first at line 10, column 5)",
    ]


def test_problems_of_several_files_are_sorted_by_file() -> None:
    found = problems("bad-type.yaml", "bad-syntax.yaml", "empty.yaml", "bad-enum.yaml")
    assert [line.split(":")[0] for line in found] == [
        "bad-enum.yaml",
        "bad-syntax.yaml",
        "bad-type.yaml",
        "empty.yaml",
    ]


def test_missing_file_is_a_problem() -> None:
    assert problems("nowhere.yaml") == ["nowhere.yaml:1:1: cannot read: No such file or directory"]


def test_no_paths_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no desired-state paths"):
        load_desired([])


# --- directories ----------------------------------------------------------------------------


def test_directory_means_its_yaml_files_in_name_order() -> None:
    state = load_desired(["dir"])
    assert [group.name for group in state.groups] == ["production", "staging"]
    assert [str(group.location) for group in state.groups] == [
        "dir/10-base.yaml:3:11",
        "dir/20-more.yml:4:11",
    ]


def test_directory_skips_hidden_and_other_files() -> None:
    assert [i.path for i in load_desired(["dir/"]).inputs] == [
        "dir/10-base.yaml",
        "dir/20-more.yml",
    ]


def test_directory_without_yaml_files_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nothing").mkdir()
    monkeypatch.chdir(tmp_path)
    message = "nothing:1:1: no *.yaml or *.yml files in this directory or below it"
    assert problems("nothing") == [message]


def group_file(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"organization: acme\npolicyGroups:\n  - name: {name}\n", encoding="utf-8")


def test_sub_directories_are_read_depth_first_in_name_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "groups" / "b.yaml", "b")
    group_file(tmp_path / "groups" / "a" / "z" / "deep.yml", "deep")
    group_file(tmp_path / "groups" / "a" / "x.yaml", "x")
    group_file(tmp_path / "groups" / "c" / "y.yaml", "y")
    assert [i.path for i in load_desired(["groups"]).inputs] == [
        "groups/a/x.yaml",
        "groups/a/z/deep.yml",
        "groups/b.yaml",
        "groups/c/y.yaml",
    ]


def test_hidden_sub_directories_and_files_in_sub_directories_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "groups" / "team" / "a.yaml", "a")
    group_file(tmp_path / "groups" / "team" / ".draft.yaml", "draft")
    group_file(tmp_path / "groups" / ".git" / "b.yaml", "b")
    assert [i.path for i in load_desired(["groups"]).inputs] == ["groups/team/a.yaml"]


def test_a_directory_with_yaml_files_only_below_it_is_not_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "groups" / "team" / "a.yaml", "a")
    assert [g.name for g in load_desired(["groups"]).groups] == ["a"]


def test_a_file_given_also_through_its_directory_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "groups" / "team" / "a.yaml", "a")
    state = load_desired(["groups", "groups/team/a.yaml", "./groups/team/"])
    assert [i.path for i in state.inputs] == ["groups/team/a.yaml"]
    assert [g.name for g in state.groups] == ["a"]


def test_a_link_back_up_the_tree_is_not_walked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "groups" / "a.yaml", "a")
    (tmp_path / "groups" / "team").mkdir()
    (tmp_path / "groups" / "team" / "up").symlink_to("..")
    assert [i.path for i in load_desired(["groups"]).inputs] == ["groups/a.yaml"]


def test_a_linked_directory_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    group_file(tmp_path / "shared" / "s.yaml", "s")
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "shared").symlink_to(tmp_path / "shared")
    assert [i.path for i in load_desired(["groups"]).inputs] == ["groups/shared/s.yaml"]


# --- normalisation --------------------------------------------------------------------------


def test_top_level_settings_and_inputs() -> None:
    state = load_desired(["valid-full.yaml"])
    digest = hashlib.sha256((DATA / "valid-full.yaml").read_bytes()).hexdigest()
    assert (state.organization, state.prune) == ("acme", True)
    assert state.inputs == (InputFile("valid-full.yaml", f"sha256:{digest}"),)


def test_prune_defaults_to_false() -> None:
    assert load_desired(["dir"]).prune is False


def test_groups_keep_file_order_and_get_defaults() -> None:
    groups = load_desired(["valid-full.yaml"]).groups
    assert [(g.name, g.entity_type, g.mode, g.absent) for g in groups] == [
        ("production", None, None, False),
        ("staging", None, "audit", False),
        ("default-accounts-policy-group", None, None, False),
        ("legacy", None, None, True),
    ]


def test_unwritten_mode_resolves_by_entity_type_not_by_name() -> None:
    # A live default group keeps its own mode whatever its name (see test_diff); the name
    # alone decides nothing at plan time.
    groups = load_desired(["valid-full.yaml"]).groups
    assert [(g.resolved_entity_type, g.resolved_mode) for g in groups] == [
        ("stacks", "preventative"),
        ("stacks", "audit"),
        ("stacks", "preventative"),
        ("stacks", "preventative"),
    ]


def test_accounts_on_a_known_default_audit_group_are_valid_offline() -> None:
    (group,) = [g for g in load_desired(["valid-full.yaml"]).groups if g.accounts]
    assert (group.name, group.mode) == ("default-accounts-policy-group", None)


def test_omitted_lists_are_not_managed_and_empty_lists_are() -> None:
    production, staging, accounts, legacy = load_desired(["valid-full.yaml"]).groups
    assert (legacy.stacks, legacy.accounts, legacy.packs, legacy.agent_pool_id) == (
        None,
        None,
        None,
        None,
    )
    assert (staging.stacks, accounts.packs, accounts.accounts) == (
        frozenset(),
        (),
        frozenset({"aws-prod"}),
    )
    assert (production.previously, production.agent_pool_id) == (("prod", "prod-old"), "pool-1")


def test_stack_shorthand_and_object_form_are_one_kind() -> None:
    production = load_desired(["valid-full.yaml"]).groups[0]
    assert production.stacks == frozenset({StackRef("web", "prod"), StackRef("payments", "prod")})
    assert production.item_locations == {
        "web/prod": Location("valid-full.yaml", 9, 9),
        "payments/prod": Location("valid-full.yaml", 10, 9),
    }


def test_packs_are_sorted_with_wire_config_and_unwrapped_secrets() -> None:
    production = load_desired(["valid-full.yaml"]).groups[0]
    assert production.packs is not None
    aws, last = production.packs
    assert (aws.name, aws.version_tag, aws.location) == (
        "aws-guardrails",
        "1.3.0",
        Location("valid-full.yaml", 17, 15),
    )
    assert aws.config_json == (
        '{"all":{"enforcementLevel":"mandatory"},"db":{"password":"hunter2","port":5432},'
        '"s3-no-public-read":{"enforcementLevel":"disabled"}}'
    )
    assert aws.secret_paths == frozenset({("db", "password")})
    assert (last.name, last.version_tag, last.config_json, last.environments) == (
        "zz-last",
        "2024-01-01",
        "{}",
        ("policy/aws-creds", "policy/other"),
    )


def test_merged_anchor_carries_config_and_secrets() -> None:
    staging = load_desired(["valid-full.yaml"]).groups[1]
    assert staging.packs is not None
    [pack] = staging.packs
    assert (pack.version_tag, pack.secret_paths) == ("1.4.0", frozenset({("db", "password")}))


def test_example_file_loads() -> None:
    state = load_desired([DATA.parent.parent.parent / "examples" / "policygroups.yaml"])
    assert [group.name for group in state.groups] == [
        "default-policy-group",
        "production",
        "staging",
        "cloud-accounts",
        "Production Audit",
        "sandbox",
    ]


# --- fuzz -----------------------------------------------------------------------------------

words = st.sampled_from(
    [
        "organization",
        "policyGroups",
        "prune",
        "name",
        "previously",
        "entityType",
        "mode",
        "state",
        "stacks",
        "accounts",
        "policyPacks",
        "versionTag",
        "enforcementLevel",
        "config",
        "environments",
        "all",
        "fn::secret",
        "routingProject",
        "agentPoolId",
        "metadata",
        "default-policy-group",
        "default-accounts-policy-group",
        "accounts",
        "absent",
        "audit",
        "mandatory",
        "a/b",
        "acme",
    ]
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | words | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(words | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=40,
)
names = st.sampled_from(
    ["prod", "metadata", "default-policy-group", "default-accounts-policy-group"]
)
settings_ = st.dictionaries(
    st.sampled_from(["enforcementLevel", "fn::secret", "password", "list"]), values, max_size=3
)
packs = st.fixed_dictionaries(
    {"name": st.sampled_from(["aws", "cost"]), "versionTag": st.sampled_from(["1", "2"])},
    optional={
        "enforcementLevel": st.sampled_from(["advisory", "mandatory"]),
        "config": st.dictionaries(
            st.sampled_from(["all", "p1"]), st.sampled_from(["advisory", "disabled"]) | settings_
        ),
        "environments": st.lists(st.sampled_from(["env/a", "env/b"])),
    },
)
stack_refs = st.sampled_from(["a/b", "c/d"]) | st.fixed_dictionaries(
    {"routingProject": st.just("a"), "name": st.just("b")}
)
plausible_groups = st.fixed_dictionaries(
    {"name": names},
    optional={
        "previously": st.lists(names, max_size=2),
        "entityType": st.sampled_from(["stacks", "accounts"]),
        "mode": st.sampled_from(["audit", "preventative"]),
        "state": st.sampled_from(["present", "absent"]),
        "agentPoolId": st.sampled_from(["", "pool"]),
        "stacks": st.lists(stack_refs, max_size=3),
        "accounts": st.lists(st.sampled_from(["x", "y"]), max_size=3),
        "policyPacks": st.lists(packs, max_size=3),
    },
)
documents = st.fixed_dictionaries(
    {
        "organization": words,
        "policyGroups": st.lists(plausible_groups | st.dictionaries(words, values), max_size=4),
    },
    optional={"prune": values},
)
splices = st.sampled_from(["\t", ":", "- ", "&a ", "*a", "<<: ", "!!set ", "{", "]", "\n  ", "'"])


@st.composite
def yamlish(draw: st.DrawFn) -> bytes:
    text = yaml.safe_dump(draw(documents), sort_keys=False)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(splices) + text[at:]
    return text.encode()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | yamlish())
def test_any_input_either_loads_or_fails_validation(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        load_desired([path])
    except ValidationFailed as failed:
        assert failed.problems


def test_errors_never_quote_a_secret_value() -> None:
    found = problems("secret-in-error.yaml")
    assert found == [
        "secret-in-error.yaml:10:15: invalid value [secret] (schema rule 'enum')",
        "secret-in-error.yaml:12:27: not a valid !!int",
    ]
    assert not any("SECRET" in line for line in found)


def test_group_names_dot_and_dot_dot_are_refused(tmp_path: Path) -> None:
    for name in (".", ".."):
        path = tmp_path / "dots.yaml"
        path.write_text(f'organization: acme\npolicyGroups:\n  - name: "{name}"\n')
        with pytest.raises(ValidationFailed) as caught:
            load_desired([path])
        assert f"{path}:3:11:" in str(caught.value)


def test_safety_thresholds_and_allow_entries_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "organization: acme\nsafety: {maxDeletePercent: 25, maxUnprotected: 3}\n"
        "allow: [delete:old, replace:prod]\npolicyGroups: []\n"
    )
    loaded = load_desired([path])
    assert (loaded.safety.max_delete_percent, loaded.safety.max_unprotected) == (25.0, 3)
    assert loaded.allow == {"delete:old", "replace:prod"}


def test_several_files_keep_the_strictest_threshold_and_every_allow(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "organization: acme\nsafety: {maxDeletePercent: 50}\nallow: [delete:a]\npolicyGroups: []\n"
    )
    (tmp_path / "b.yaml").write_text(
        "organization: acme\nsafety: {maxDeletePercent: 5}\nallow: [delete:b]\npolicyGroups: []\n"
    )
    loaded = load_desired([tmp_path])
    assert loaded.safety.max_delete_percent == 5.0
    assert loaded.allow == {"delete:a", "delete:b"}


def test_malformed_allow_entry_is_reported_at_its_position(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("organization: acme\nallow: [everything]\npolicyGroups: []\n")
    with pytest.raises(ValidationFailed) as caught:
        load_desired([path])
    assert str(caught.value) == (
        f"{path}:2:9: expected a safety finding id such as 'delete:legacy', got 'everything'"
    )


def test_no_account_rule_on_a_preventative_group_is_valid() -> None:
    (group,) = load_desired(["valid-no-account-rule.yaml"]).groups
    assert group.account_match is not None and group.account_match.rule is None
