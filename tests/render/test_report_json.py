"""The JSON coverage report (contract §6.3): organization, every stack live and desired as
the contract's E, the default-only and unprotected stacks, the metadata counts."""

from __future__ import annotations

import datetime
import json
from typing import Any

from conftest import Golden
from pgsync.render.report_json import render_report_json
from report_samples import COVERAGE, HOSTILE_STACK, hostile, large, sample

NOON = datetime.datetime(2027, 1, 1, 12, 0, tzinfo=datetime.UTC)


def document(**given: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_report_json(sample(), **given))
    return loaded


def test_the_sample_report(golden: Golden) -> None:
    golden.check("report-sample.json", render_report_json(sample(), NOON))


def test_the_contracts_keys() -> None:
    assert list(document()) == [
        "organization",
        "summary",
        "packs",
        "stacks",
        "defaultOnly",
        "noPreventative",
        "groups",
        "metadata",
    ]


def test_each_stack_is_its_enforcement_live_and_desired() -> None:
    report = sample()
    stacks = document()["stacks"]
    assert stacks == [
        {"stack": str(r.stack), "live": r.live.to_json(), "desired": r.desired.to_json()}
        for r in report.stacks
    ]


def test_default_only_stacks_say_on_which_side() -> None:
    assert document()["defaultOnly"] == [
        {"stack": "ml/dev", "live": True, "desired": True},
        {"stack": "web/dev", "live": True, "desired": False},
    ]


def test_metadata_is_the_services_counts_or_null() -> None:
    assert document()["metadata"] == {
        "protected_stacks": COVERAGE.protected_stacks,
        "preventative_stacks": COVERAGE.preventative_stacks,
        "audit_stacks": COVERAGE.audit_stacks,
        "total_stacks": COVERAGE.total_stacks,
        "protected_accounts": COVERAGE.protected_accounts,
        "total_accounts": COVERAGE.total_accounts,
    }
    assert json.loads(render_report_json(hostile()))["metadata"] is None


def test_the_time_is_iso_8601_in_utc_and_only_when_given() -> None:
    assert "generatedAt" not in document()
    later = datetime.datetime(
        2027, 1, 1, 13, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    assert document(generated=later)["generatedAt"] == "2027-01-01T12:00:00Z"


def test_a_group_has_its_own_packs_and_stacks_on_each_side() -> None:
    groups = {g["name"]: g for g in document()["groups"]}
    assert groups["prod"]["live"] == {
        "stacks": 2,
        "accounts": 0,
        "stackRule": None,
        "packs": {"aws": {"versionTag": "1.0.0", "enforcementLevel": "mandatory"}},
    }
    assert groups["prod"]["desired"] == groups["prod"]["live"]


def test_a_group_the_plan_creates_has_null_live() -> None:
    groups = {g["name"]: g for g in json.loads(render_report_json(large(3, 1)))["groups"]}
    assert groups["moved"]["action"] == "create"
    assert groups["moved"]["live"] is None
    assert groups["moved"]["desired"]["stacks"] == 1


def test_names_are_kept_as_they_are() -> None:
    stacks = json.loads(render_report_json(hostile()))["stacks"]
    assert [s["stack"] for s in stacks] == [HOSTILE_STACK]
