"""Match rules end to end: `stackMatch` / `accountMatch` planned, applied and verified."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner, Result

from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

STACKS: list[dict[str, Any]] = [
    {"name": "payments/prod", "tags": {"env": "prod", "team": "payments"}},
    {"name": "web/prod", "tags": {"env": "prod"}},
    {"name": "web/dev", "tags": {"env": "dev"}},
    {"name": "data/prod", "tags": {"env": "prod", "team": "data", "tier": "1"}},
    {"name": "ml/dev"},
]
ENV_PROD: dict[str, Any] = {
    "__type": "PermissionExpressionEqual",
    "left": {
        "__type": "PermissionExpressionTag",
        "context": {"__type": "PermissionExpressionStack"},
        "key": "env",
    },
    "right": {"__type": "PermissionLiteralExpressionString", "value": "prod"},
}


def org(groups: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "organizations": {
            "acme": {
                "stacks": STACKS,
                "accounts": [
                    {"name": "aws-prod", "provider": "aws", "tags": {"env": "prod"}},
                    {"name": "aws-dev", "provider": "aws", "tags": {"env": "dev"}},
                ],
                "policyGroups": groups or [],
                **extra,
            }
        }
    }


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "groups.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def members(server: EmulatorServer, group: str, kind: str) -> list[dict[str, Any]]:
    """Every member of a group from the service's member listing, page by page."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    with httpx.Client(base_url=server.url) as http:
        while True:
            response = http.get(f"/api/orgs/acme/policygroups/{quote(group)}/{kind}", params=params)
            response.raise_for_status()
            body = response.json()
            found += body[kind]
            if not body.get("continuationToken"):
                return found
            params = {"continuationToken": body["continuationToken"]}


PROD_BY_TAG = """\
organization: acme
policyGroups:
  - name: Prod Stacks
    stackMatch:
      - env: prod
"""


def test_plan_shows_the_rule_and_how_many_stacks_it_matches(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org())) as server:
        result = pgsync(server, "plan", write(tmp_path, PROD_BY_TAG))
        assert server.writes() == []
    assert result.exit_code == 0, result.output
    assert "+ stack match rule: env = prod" in result.output
    assert "matches 3 of 5 stacks (was none: no rule)" in result.output


def test_apply_sets_the_rule_in_the_batch_and_the_service_adds_the_matches(
    tmp_path: Path,
) -> None:
    with EmulatorServer(fixture_from_dict(org())) as server:
        result = pgsync(server, "apply", write(tmp_path, PROD_BY_TAG), "--yes")
        assert result.exit_code == 0, result.output
        writes = [(w.method, w.path, w.body) for w in server.writes()]
        group = server.group("acme", "Prod Stacks")
        listed = members(server, "Prod Stacks", "stacks")
    assert writes[1] == (
        "PATCH",
        "/api/orgs/acme/policygroups/Prod%20Stacks/batch",
        [{"stackMatchRule": ENV_PROD}],
    )
    assert group is not None and group["stackMatchRule"] == ENV_PROD
    assert group["stacks"] == []
    assert {(m["routingProject"], m["name"], m["source"]) for m in listed} == {
        ("payments", "prod", "rule"),
        ("web", "prod", "rule"),
        ("data", "prod", "rule"),
    }


def test_second_apply_of_a_rule_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, PROD_BY_TAG)
    with EmulatorServer(fixture_from_dict(org())) as server:
        assert pgsync(server, "apply", path, "--yes").exit_code == 0
        server.clear_requests()
        again = pgsync(server, "apply", path, "--yes")
        assert (again.exit_code, server.writes()) == (0, [])
    assert "No changes." in again.output


def test_a_rule_written_in_another_order_is_no_change(tmp_path: Path) -> None:
    live = {
        "name": "g",
        "stackMatchRule": compiled([{"team": "data", "env": "prod"}, {"tier": "1"}]),
    }
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: g
            stackMatch:
              - tier: "1"
              - env: prod
                team: data
        """,
    )
    with EmulatorServer(fixture_from_dict(org([live]))) as server:
        result = pgsync(server, "plan", path, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output


def test_rule_members_are_never_drift_and_never_removed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: g
            stacks: [ml/dev]
            stackMatch:
              - env: prod
        """,
    )
    with EmulatorServer(fixture_from_dict(org())) as server:
        assert pgsync(server, "apply", path, "--yes").exit_code == 0
        # A stack gains the tag later: the service adds it, and that is not drift.
        server.set_stack_tags("acme", "web/dev", {"env": "prod"})
        server.clear_requests()
        drift = pgsync(server, "drift", path)
        applied = pgsync(server, "apply", path, "--yes")
        assert server.writes() == []
        listed = members(server, "g", "stacks")
    assert (drift.exit_code, applied.exit_code) == (0, 0), drift.output
    assert ("web", "dev", "rule") in {(m["routingProject"], m["name"], m["source"]) for m in listed}


def test_an_empty_list_removes_the_live_rule(tmp_path: Path) -> None:
    live = {"name": "g", "stackMatchRule": ENV_PROD}
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: g\n    stackMatch: []\n")
    with EmulatorServer(fixture_from_dict(org([live]))) as server:
        planned = pgsync(server, "plan", path)
        applied = pgsync(server, "apply", path, "--yes", "--allow", "unprotected:g")
        bodies = [w.body for w in server.writes()]
        group = server.group("acme", "g")
    assert "- stack match rule: env = prod" in planned.output
    assert "3 stacks it matches stay only if listed" in planned.output
    # The stacks the rule brought in would be in no group any more: a reviewer must agree.
    assert planned.exit_code == 3
    assert "✗ blocked unprotected:g: leave-groups: 3 stacks leave every" in planned.output
    assert applied.exit_code == 0, applied.output
    assert bodies == [[{"removeStackMatchRule": True}]]
    assert group is not None and "stackMatchRule" not in group


def test_omitted_stack_match_leaves_a_live_rule_alone(tmp_path: Path) -> None:
    live = {"name": "g", "stackMatchRule": ENV_PROD}
    path = write(tmp_path, "organization: acme\npolicyGroups:\n  - name: g\n    stacks: []\n")
    with EmulatorServer(fixture_from_dict(org([live]))) as server:
        result = pgsync(server, "plan", path, "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_json_plan_carries_the_rule_change_with_its_preview(tmp_path: Path) -> None:
    live = {"name": "g", "stackMatchRule": ENV_PROD}
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: g
            stackMatch:
              - team: {exists: true}
        """,
    )
    with EmulatorServer(fixture_from_dict(org([live]))) as server:
        shown = json.loads(pgsync(server, "plan", path, "--format", "json").stdout)
    (group,) = [g for g in shown["groups"] if g["name"] == "g"]
    (change,) = group["changes"]
    assert change == {
        "kind": "setStackMatchRule",
        "value": {
            "description": "team exists",
            "rules": [{"team": {"exists": True}}],
            "from": {"description": "env = prod", "rules": [{"env": "prod"}]},
            "preview": {"matched": 2, "total": 5},
            "previous": {"matched": 3, "total": 5},
        },
    }
    assert group["requests"][0]["body"] == [
        {
            "stackMatchRule": {
                "__type": "PermissionExpressionHasTag",
                "context": {"__type": "PermissionExpressionStack"},
                "key": "team",
            }
        }
    ]


def test_markdown_plan_shows_the_rule_and_its_counts(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org())) as server:
        shown = pgsync(server, "plan", write(tmp_path, PROD_BY_TAG), "--format", "markdown")
    assert "`+ stack match rule: env = prod`" in shown.stdout
    assert "`matches 3 of 5 stacks (was none: no rule)`" in shown.stdout
    assert "+1 stack rule" in shown.stdout


def test_account_rule_on_an_audit_group_matches_account_tags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: cloud audit
            mode: audit
            accountMatch:
              - env: dev
        """,
    )
    with EmulatorServer(fixture_from_dict(org())) as server:
        planned = pgsync(server, "plan", path)
        applied = pgsync(server, "apply", path, "--yes")
        listed = members(server, "cloud audit", "accounts")
    assert "matches 1 of 2 accounts" in planned.output
    assert applied.exit_code == 0, applied.output
    assert [(m["name"], m["source"]) for m in listed] == [("aws-dev", "rule")]


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"features": {"matchRules": False}}, "HTTP 403"),
        ({}, "HTTP 404"),
    ],
    ids=["feature-off", "legacy-service"],
)
def test_an_org_without_match_rules_is_an_error_before_any_write(
    tmp_path: Path, spec: dict[str, Any], status: str
) -> None:
    fixture = org(**spec)
    if not spec:
        fixture["api"] = "legacy"
    text = PROD_BY_TAG + "  - name: other\n    stacks: [web/dev]\n"
    with EmulatorServer(fixture_from_dict(fixture)) as server:
        planned = pgsync(server, "plan", write(tmp_path, text))
        applied = pgsync(server, "apply", str(tmp_path / "groups.yaml"), "--yes")
        assert server.writes() == []
    for result in (planned, applied):
        assert result.exit_code == 1, result.output
        assert "error: match rules are not enabled for organization acme" in result.stderr
        assert status in result.stderr
        assert "Traceback" not in result.output


def test_import_writes_rules_readably_and_round_trips(tmp_path: Path) -> None:
    live = [
        {"name": "Prod Stacks", "stackMatchRule": compiled([{"env": "prod"}, {"team": "data"}])},
        {"name": "audit", "mode": "audit", "accountMatchRule": account_has("env")},
    ]
    out = tmp_path / "imported.yaml"
    with EmulatorServer(fixture_from_dict(org(live))) as server:
        imported = pgsync(server, "import", "--org", "acme", "--out", str(out))
        assert imported.exit_code == 0, imported.output
        plan = pgsync(server, "plan", str(out), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    text = out.read_text(encoding="utf-8")
    assert "    stackMatch:\n      - env: prod\n      - team: data\n" in text
    assert "    accountMatch:\n      - env:\n          exists: true\n" in text


def compiled(rules: list[dict[str, str]]) -> dict[str, Any]:
    """The API form of readable rules, built here independently of pgsync."""

    def equal(key: str, value: str) -> dict[str, Any]:
        return {
            **ENV_PROD,
            "left": {**ENV_PROD["left"], "key": key},
            "right": {**ENV_PROD["right"], "value": value},
        }

    def fold(kind: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
        tree = nodes[0]
        for node in nodes[1:]:
            tree = {"__type": kind, "left": tree, "right": node}
        return tree

    return fold(
        "PermissionExpressionOr",
        [fold("PermissionExpressionAnd", [equal(k, v) for k, v in r.items()]) for r in rules],
    )


def account_has(key: str) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionHasTag",
        "context": {"__type": "PermissionExpressionInsightsAccount"},
        "key": key,
    }


def test_plan_names_the_members_a_rule_brings_in(tmp_path: Path) -> None:
    live = {"name": "g", "stacks": ["web/prod", "ml/dev"], "stackMatchRule": ENV_PROD}
    path = write(
        tmp_path,
        """\
        organization: acme
        policyGroups:
          - name: g
            stacks: [ml/dev]
        """,
    )
    with EmulatorServer(fixture_from_dict(org([live]))) as server:
        result = pgsync(server, "plan", path)
        shown = json.loads(pgsync(server, "plan", path, "--format", "json").stdout)
    assert result.exit_code == 0, result.output
    assert "- stack web/prod" in result.output
    notes = next(g for g in shown["groups"] if g["name"] == "g")["notes"]
    assert notes == [
        "2 stacks via the match rule (env = prod): data/prod, payments/prod;"
        " members by tag, kept whatever the list says",
        "web/prod: off the list, but still members via the match rule",
    ]


def test_removing_a_rule_whose_stacks_an_undeclared_group_holds_is_not_gated(
    tmp_path: Path,
) -> None:
    live: list[dict[str, Any]] = [
        {"name": "by hand", "stacks": ["payments/prod", "web/prod", "data/prod"]},
        {"name": "ruled", "stackMatchRule": ENV_PROD},
    ]
    path = write(
        tmp_path, "organization: acme\npolicyGroups:\n  - name: ruled\n    stackMatch: []\n"
    )
    with EmulatorServer(fixture_from_dict(org(live))) as server:
        planned = pgsync(server, "plan", path)
    assert planned.exit_code == 0, planned.output
    assert "unprotected" not in planned.output


def test_pruning_a_group_counts_the_stacks_its_rule_held(tmp_path: Path) -> None:
    live = [{"name": "ruled", "stackMatchRule": ENV_PROD}]
    path = write(tmp_path, "organization: acme\nprune: true\npolicyGroups: []\n")
    with EmulatorServer(fixture_from_dict(org(live))) as server:
        planned = pgsync(server, "plan", path, "--allow", "delete:ruled")
    assert planned.exit_code == 3, planned.output
    assert (
        "✗ blocked unprotected:ruled: leave-groups: 3 stacks leave every non-default"
        " group (data/prod, payments/prod, web/prod)"
    ) in planned.output
