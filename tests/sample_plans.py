"""Plans that the renderers' golden files and other tests share."""

from __future__ import annotations

from builders import (
    applied,
    catalog,
    desired_group,
    live,
    live_group,
    pack_ref,
    stacks,
    state,
)
from pgsync.core.diff import diff
from pgsync.core.model import DesiredState, LiveState
from pgsync.core.plan import Plan, build_plan


def rich_plan() -> Plan:
    desired = state(
        desired_group(
            "production",
            previously=("prod",),
            stacks=stacks("payments/prod", "web/prod"),
            packs=(
                pack_ref("aws", "1.3.0", "mandatory", {"s3-no-public-read": "disabled"}),
                pack_ref(
                    "cost",
                    "2.0.0",
                    config={"budget": {"token": "s3cr3t", "limit": 100}},
                    secrets=frozenset({("budget", "token")}),
                ),
            ),
        ),
        desired_group("staging", mode="audit", stacks=stacks("payments/staging")),
        desired_group("cloud", "accounts", accounts=frozenset({"aws-prod"})),
        desired_group("sandbox", absent=True),
        desired_group(
            "tuned", agent_pool_id="pool-2", packs=(pack_ref("aws", "1.0.0", "advisory"),)
        ),
    )
    current = live(
        live_group(
            "prod",
            stacks=stacks("payments/prod", "web/old"),
            packs=(applied("aws", "1.0.0", "mandatory"),),
        ),
        live_group("sandbox", mode="audit"),
        live_group("tuned", packs=(applied("aws", "1.0.0", "mandatory"),)),
        live_group("legacy-manual"),
        cat=catalog(
            stack_names=("payments/prod", "web/prod", "payments/staging", "web/old"),
            accounts=("aws-prod",),
        ),
    )
    return build_plan("acme", diff(desired, current))


def renamed_and_replaced() -> tuple[DesiredState, LiveState]:
    """`prod`, preventative live, declared as the audit group `production` (previously prod)."""
    desired = state(
        desired_group("production", mode="audit", previously=("prod",), stacks=stacks("w/1"))
    )
    return desired, live(live_group("prod", stacks=stacks("w/1")), cat=catalog(("w/1",)))
