"""build_plan(): order of groups and the exact requests of contract §5."""

from __future__ import annotations

import pytest

from builders import applied, catalog, desired_group, live, live_group, pack_ref, stacks, state
from pgsync.core import paths
from pgsync.core.diff import diff
from pgsync.core.errors import PgsyncError
from pgsync.core.model import ABSENT_FINGERPRINT, DesiredState, LiveGroup, LiveState, sha256_digest
from pgsync.core.plan import ACTIONS, Plan, build_plan, live_fingerprint


def plan_for(desired: DesiredState, current: LiveState) -> Plan:
    return build_plan("acme", diff(desired, current))


def test_create_is_one_post_and_one_batch() -> None:
    group = desired_group("prod", stacks=stacks("a/1", "a/2"), packs=(pack_ref("aws", "1.3.0"),))
    (created,) = plan_for(state(group), live()).changed
    assert [(r.method, r.path) for r in created.requests] == [
        ("POST", "/api/orgs/acme/policygroups"),
        ("PATCH", "/api/orgs/acme/policygroups/prod/batch"),
    ]
    assert created.requests[0].body == {
        "name": "prod",
        "entityType": "stacks",
        "mode": "preventative",
    }
    assert created.live_fingerprint == ABSENT_FINGERPRINT


def test_the_fingerprint_of_no_group_is_the_digest_of_json_null() -> None:
    assert sha256_digest(b"null") == ABSENT_FINGERPRINT


def test_create_without_members_is_only_a_post() -> None:
    (created,) = plan_for(state(desired_group("empty")), live()).changed
    assert [r.method for r in created.requests] == ["POST"]


def test_create_sends_agent_pool_in_the_post() -> None:
    (created,) = plan_for(state(desired_group("p", agent_pool_id="pool-9")), live()).changed
    assert created.requests[0].body["agentPoolId"] == "pool-9"


def test_many_membership_changes_are_one_batch_request() -> None:
    wanted = stacks(*(f"svc/s{i}" for i in range(150)))
    group = desired_group("prod", stacks=wanted)
    (updated,) = plan_for(state(group), live(live_group("prod"))).changed
    (request,) = updated.requests
    assert request.method == "PATCH" and request.path.endswith("/prod/batch")
    assert len(request.body) == 150
    assert request.body[0] == {"addStack": {"name": "s0", "routingProject": "svc"}}


def test_upgrade_is_a_lone_add_never_remove_and_add_of_the_same_pack() -> None:
    group = desired_group("prod", packs=(pack_ref("aws", "1.3.0"),))
    current = live_group("prod", packs=(applied("aws", "1.0.0"),))
    (updated,) = plan_for(state(group), live(current)).changed
    (request,) = updated.requests
    assert request.body == [
        {
            "addPolicyPack": {
                "name": "aws",
                "displayName": "AWS Guardrails",
                "version": 2,
                "versionTag": "1.3.0",
                "config": {},
                "environments": [],
            }
        }
    ]


def test_enforcement_level_is_sent_as_config_all_object() -> None:
    group = desired_group("prod", packs=(pack_ref("aws", "1.3.0", "mandatory"),))
    (created,) = plan_for(state(group), live()).changed
    pack = created.requests[1].body[0]["addPolicyPack"]
    assert pack["config"] == {"all": {"enforcementLevel": "mandatory"}}


def test_remove_pack_sends_the_four_required_fields() -> None:
    current = live_group("prod", packs=(applied("cost", "2.0.0", "advisory"),))
    (updated,) = plan_for(state(desired_group("prod", packs=())), live(current)).changed
    assert updated.requests[0].body == [
        {
            "removePolicyPack": {
                "name": "cost",
                "displayName": "Cost Controls",
                "version": 1,
                "versionTag": "2.0.0",
            }
        }
    ]


def test_rename_is_a_plain_patch_before_the_batch_on_the_new_name() -> None:
    group = desired_group("production", previously=("prod",), stacks=stacks("a/1"))
    (renamed,) = plan_for(state(group), live(live_group("prod"))).changed
    assert [(r.method, r.path, r.body) for r in renamed.requests] == [
        ("PATCH", "/api/orgs/acme/policygroups/prod", {"newName": "production"}),
        (
            "PATCH",
            "/api/orgs/acme/policygroups/production/batch",
            [{"addStack": {"name": "1", "routingProject": "a"}}],
        ),
    ]


def test_delete_is_one_delete_request() -> None:
    (deleted,) = plan_for(state(desired_group("old", absent=True)), live(live_group("old"))).changed
    assert [(r.method, r.path) for r in deleted.requests] == [
        ("DELETE", "/api/orgs/acme/policygroups/old")
    ]


def test_unchanged_groups_send_nothing() -> None:
    result = plan_for(state(desired_group("prod")), live(live_group("prod")))
    assert result.write_count() == 0 and not result.has_changes


def test_groups_are_ordered_renames_creates_updates_deletes() -> None:
    result = plan_for(
        state(
            desired_group("zz-new"),
            desired_group("aa-gone", absent=True),
            desired_group("mm", stacks=stacks("a/1")),
            desired_group("renamed", previously=("old",)),
            prune=False,
        ),
        live(live_group("aa-gone"), live_group("mm"), live_group("old")),
    )
    assert [(g.action, g.name) for g in result.changed] == [
        ("rename", "renamed"),
        ("create", "zz-new"),
        ("update", "mm"),
        ("delete", "aa-gone"),
    ]


def test_summary_counts_every_action() -> None:
    result = plan_for(state(desired_group("new")), live(live_group("manual")))
    assert result.summary() == {
        "create": 1,
        "update": 0,
        "rename": 0,
        "replace": 0,
        "delete": 0,
        "unchanged": 0,
        "unmanaged": 3,
    }


def test_summary_counts_in_a_fixed_order() -> None:
    result = plan_for(state(), live())
    assert list(result.summary()) == [
        "create",
        "update",
        "rename",
        "replace",
        "delete",
        "unchanged",
        "unmanaged",
    ]


def test_apply_runs_renames_first_then_every_other_action_in_summary_order() -> None:
    assert ACTIONS == ("rename", "create", "update", "replace", "delete", "unchanged", "unmanaged")


def test_secret_config_values_are_masked_in_request_json_but_sent_plain() -> None:
    group = desired_group(
        "prod",
        packs=(
            pack_ref(
                "aws",
                "1.3.0",
                config={"db": {"password": "hunter2"}},
                secrets=frozenset({("db", "password")}),
            ),
        ),
    )
    (created,) = plan_for(state(group), live()).changed
    batch = created.requests[1]
    assert batch.body[0]["addPolicyPack"]["config"]["db"]["password"] == "hunter2"
    assert "hunter2" not in str(batch.to_json())
    assert "hunter2" not in str([c.to_json() for c in created.changes])


def test_plan_is_deterministic() -> None:
    group = desired_group("prod", stacks=stacks(*(f"p/s{i}" for i in range(30))))
    one = plan_for(state(group), live(live_group("prod"), cat=catalog()))
    two = plan_for(state(group), live(live_group("prod"), cat=catalog()))
    assert one == two


def test_dot_names_cannot_be_addressed() -> None:
    with pytest.raises(PgsyncError, match="cannot be addressed"):
        paths.group("acme", "..")


def test_fingerprint_leaves_out_values_under_secret_looking_keys() -> None:
    def group_with(password: str) -> LiveGroup:
        pack = applied("cost", "2.0.0", db={"password": password, "user": "u"})
        return live_group("prod", packs=(pack,))

    assert live_fingerprint(group_with("a"), None) == live_fingerprint(group_with("b"), None)
    other_user = live_group(
        "prod", packs=(applied("cost", "2.0.0", db={"password": "a", "user": "x"}),)
    )
    assert live_fingerprint(other_user, None) != live_fingerprint(group_with("a"), None)
