"""describe_pack_change(): what changed inside a pack's settings, never showing secrets."""

from __future__ import annotations

from typing import Any

from pgsync.core.configdiff import describe_pack_change
from pgsync.core.model import AppliedPack, canonical_json


def pack(
    config: dict[str, Any],
    secrets: frozenset[tuple[str, ...]] = frozenset(),
    environments: tuple[str, ...] = (),
) -> AppliedPack:
    return AppliedPack("aws", "1.0.0", 1, "AWS", canonical_json(config), environments, secrets)


def test_enforcement_level_change_shows_both_levels() -> None:
    before = pack({"all": {"enforcementLevel": "mandatory"}})
    after = pack({"all": {"enforcementLevel": "advisory"}})
    assert describe_pack_change(before, after) == (
        'all.enforcementLevel: "mandatory" → "advisory"',
    )


def test_added_and_removed_policies_are_named() -> None:
    before = pack({"old": {"x": 1}})
    after = pack({"new": {"enforcementLevel": "disabled"}})
    assert describe_pack_change(before, after) == (
        'new: added {"enforcementLevel": "disabled"}',
        "old: removed",
    )


def test_changed_list_is_shown_whole_without_the_old_value() -> None:
    before = pack({"ec2": {"allowedTypes": ["t3.micro"]}})
    after = pack({"ec2": {"allowedTypes": ["t3.micro", "t3.small"]}})
    assert describe_pack_change(before, after) == (
        'ec2.allowedTypes: changed to ["t3.micro", "t3.small"]',
    )


def test_old_live_value_is_never_shown_even_when_no_longer_marked_secret() -> None:
    before = pack({"scanner": {"password": "HUNTER2"}})
    after = pack({"scanner": {"allowedTypes": ["a"]}})
    described = describe_pack_change(before, after)
    assert not any("HUNTER2" in line for line in described)


def test_secret_values_are_masked_but_their_change_is_told() -> None:
    secret = frozenset({("db", "password")})
    before = pack({"db": {"password": "old"}}, secret)
    after = pack({"db": {"password": "new"}}, secret)
    assert describe_pack_change(before, after) == ("db.password: changed to [secret]",)


def test_new_policy_holding_a_secret_is_masked_whole() -> None:
    after = pack({"db": {"password": "s3cr3t", "user": "u"}}, frozenset({("db", "password")}))
    assert describe_pack_change(pack({}), after) == ("db: added [secret]",)


def test_environment_changes_are_listed() -> None:
    after = pack({}, environments=("policy/creds",))
    assert describe_pack_change(pack({}), after) == ("environments: none → policy/creds",)
