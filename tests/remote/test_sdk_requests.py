"""Every request body pgsync sends parses into Pulumi's own SDK request models, key for key.

The SDK (`pulumi-cloud-sdk`) is generated from the service's OpenAPI document: a body that
survives its deserialize → serialize round trip with nothing dropped or changed uses only
keys and shapes the service declares.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_cloud_sdk._support import PulumiModelEncoder

from builders import PACKS, catalog, desired_group, live, live_group, pack_ref, stacks, state
from clirun import pgsync, write
from conftest import org_spec
from pgsync.core.diff import diff
from pgsync.core.matchrule import compile_rules, match_rule
from pgsync.core.model import Mode, RuleSetting
from pgsync.core.plan import build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict

ROUTES = [
    (re.compile(r"POST /api/orgs/[^/]+/policygroups"), "NewPolicyGroupRequest"),
    (re.compile(r"PATCH /api/orgs/[^/]+/policygroups/[^/]+"), "UpdatePolicyGroupRequest"),
    (
        re.compile(r"PATCH /api/orgs/[^/]+/policygroups/[^/]+/batch"),
        "list[UpdatePolicyGroupRequest]",
    ),
    (
        re.compile(r"POST /api/orgs/[^/]+/policygroups/stackmatchrule/preview"),
        "PreviewStackMatchRuleRequest",
    ),
    (
        re.compile(r"POST /api/orgs/[^/]+/policygroups/accountmatchrule/preview"),
        "PreviewAccountMatchRuleRequest",
    ),
]
ENCODER = PulumiModelEncoder()


def model_for(method: str, path: str) -> str | None:
    """The SDK request model of a route; None for the routes that take no body."""
    found = [name for pattern, name in ROUTES if pattern.fullmatch(f"{method} {path}")]
    assert len(found) <= 1, (method, path)
    return found[0] if found else None


def contained(body: Any, echoed: Any, where: str = "$") -> list[str]:
    """Where `body` has something that the SDK's round trip dropped or changed."""
    if isinstance(body, dict):
        if not isinstance(echoed, dict):
            return [f"{where}: not an object in the model"]
        return [
            problem
            for key, value in body.items()
            for problem in (
                contained(value, echoed[key], f"{where}.{key}")
                if key in echoed and echoed[key] is not None
                else [f"{where}.{key}: not in the SDK model"]
            )
        ]
    if isinstance(body, list):
        if not isinstance(echoed, list) or len(echoed) != len(body):
            return [f"{where}: not the same list in the model"]
        return [
            p
            for i, (a, b) in enumerate(zip(body, echoed, strict=True))
            for p in contained(a, b, f"{where}[{i}]")
        ]
    return (
        [] if body == echoed and type(body) is type(echoed) else [f"{where}: {body!r} → {echoed!r}"]
    )


def sdk_problems(method: str, path: str, body: Any) -> list[str]:
    model = model_for(method, path)
    if model is None:
        return [] if body is None else [f"{method} {path} sends a body its route does not take"]
    echoed = ENCODER.sanitize_for_serialization(ENCODER.deserialize(body, model))
    return [f"{method} {path} ({model}) {p}" for p in contained(body, echoed)]


def test_a_key_the_model_lacks_is_reported() -> None:
    assert sdk_problems("POST", "/api/orgs/acme/policygroups", {"name": "g", "members": []}) == [
        "POST /api/orgs/acme/policygroups (NewPolicyGroupRequest) $.members: not in the SDK model"
    ]


def test_a_value_of_the_wrong_type_is_reported() -> None:
    body = [{"addStack": {"name": "prod", "routingProject": 7}}]
    assert sdk_problems("PATCH", "/api/orgs/acme/policygroups/g/batch", body) == [
        "PATCH /api/orgs/acme/policygroups/g/batch (list[UpdatePolicyGroupRequest])"
        " $[0].addStack.routingProject: 7 → '7'"
    ]


LIVE_GROUPS: list[dict[str, Any]] = [
    {
        "name": "prod",
        "stacks": ["web/prod", "svc/s001"],
        "agentPoolId": "pool-1",
        "policyPacks": [
            {
                "name": "aws",
                "versionTag": "1.0.0",
                "config": {"all": {"enforcementLevel": "mandatory"}},
            },
            {"name": "best", "versionTag": "0.9.0"},
            {"name": "cost", "versionTag": "2.0.0"},
        ],
    },
    {"name": "old name", "stacks": ["web/dev"]},
    {"name": "to replace", "stacks": ["svc/s002"]},
    {"name": "gone"},
    {
        "name": "cloud",
        "mode": "audit",
        "accounts": ["aws-prod"],
        "stackMatchRule": {
            "__type": "PermissionExpressionHasTag",
            "context": {"__type": "PermissionExpressionStack"},
            "key": "team",
        },
    },
]
EVERY_KIND = """\
organization: acme
prune: true
policyGroups:
  - name: prod
    agentPoolId: ""
    stacks: [web/prod, payments/prod]
    policyPacks:
      - name: aws
        versionTag: "1.3.0"
        enforcementLevel: advisory
        config:
          s3: {apiKey: {fn::secret: s3cr3t}, limit: 3}
        environments: [policy/aws]
      - name: best
        versionTag: "0.9.0"
        enforcementLevel: mandatory
  - name: New Name
    previously: [old name]
  - name: to replace
    mode: audit
  - name: created
    mode: audit
    agentPoolId: pool-2
    stacks: [svc/s003]
    accounts: [gcp-data]
    stackMatch:
      - env: prod
        tier: {not: "3"}
    accountMatch:
      - provider: {exists: true}
  - name: cloud
    mode: audit
    accounts: [aws-staging]
    stackMatch: []
"""


def test_every_body_of_a_full_apply_is_an_sdk_request(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(org_spec(LIVE_GROUPS))) as server:
        path = write(tmp_path, EVERY_KIND)
        allow = ["delete:gone", "mandatory-loss:prod:aws", "replace:to replace"]
        allow += ["unprotected:cloud", "unprotected:prod"]
        result = pgsync(server, "apply", path, "--yes", *(f"--allow={a}" for a in allow))
        requests = server.requests
    assert result.exit_code == 0, result.output
    kinds = {model_for(r.method, r.path) for r in requests}
    assert kinds >= {name for _, name in ROUTES}
    assert [p for r in requests for p in sdk_problems(r.method, r.path, r.body)] == []


RULES = st.lists(
    st.dictionaries(
        st.sampled_from(["env", "team", "tier"]),
        st.one_of(
            st.sampled_from(["prod", "dev"]),
            st.builds(lambda v: {"not": v}, st.sampled_from(["prod", "x"])),
            st.builds(lambda v: {"exists": v}, st.booleans()),
        ),
        min_size=1,
    ),
    max_size=3,
)


@st.composite
def plans(draw: st.DrawFn) -> Any:
    """A random live group and a random desired one of the same name: every change kind."""
    pool = ["svc/a", "svc/b", "web/prod"]
    accounts = ["aws-prod", "aws-prod/eu", "gcp-data"]
    mode: Mode = draw(st.sampled_from(["preventative", "audit"]))
    packs = tuple(
        pack_ref(name, draw(st.sampled_from(sorted(PACKS[name].versions))), level)
        for name, level in draw(
            st.lists(
                st.tuples(st.sampled_from(sorted(PACKS)), st.sampled_from([None, "mandatory"])),
                unique_by=lambda t: t[0],
            )
        )
    )
    rules = draw(RULES)
    rule = compile_rules(rules, "stack")
    group = desired_group(
        "g x",
        draw(st.sampled_from(["stacks", "accounts"])),
        mode,
        stacks=frozenset(stacks(*draw(st.lists(st.sampled_from(pool), unique=True)))),
        accounts=frozenset(draw(st.lists(st.sampled_from(accounts), unique=True)))
        if mode == "audit"
        else None,
        packs=packs,
        agent_pool_id=draw(st.sampled_from([None, "", "pool-9"])),
        stack_match=RuleSetting(match_rule(rule, "stack") if rule else None),
        previously=("g",) if draw(st.booleans()) else (),
    )
    current = live_group(
        "g",
        draw(st.sampled_from(["stacks", "accounts"])),
        draw(st.sampled_from(["preventative", "audit"])),
        stacks=stacks(*draw(st.lists(st.sampled_from(pool), unique=True))),
        accounts=frozenset(draw(st.lists(st.sampled_from(accounts), unique=True))),
        agent_pool_id=draw(st.sampled_from(["", "pool-1"])),
    )
    verdicts = diff(state(group), live(current, cat=catalog(tuple(pool), tuple(accounts))))
    return build_plan("acme", verdicts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_every_planned_request_is_an_sdk_request(plan: Any) -> None:
    assert [
        p
        for group in plan.groups
        for r in group.requests
        for p in sdk_problems(r.method, r.path, r.body)
    ] == []
