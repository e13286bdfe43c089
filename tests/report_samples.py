"""Coverage reports built offline, for the tests of the report renderers."""

from __future__ import annotations

import dataclasses

from builders import applied, desired_group, live, live_group, pack_ref, stacks, state
from pgsync.core.coverage import CoverageReport, coverage_report
from pgsync.core.model import Coverage, DesiredState, LiveState
from pgsync.core.planning import make_plan

COVERAGE = Coverage(
    protected_stacks=3,
    preventative_stacks=3,
    audit_stacks=1,
    total_stacks=4,
    protected_accounts=0,
    total_accounts=2,
)


def report_of(desired: DesiredState, current: LiveState) -> CoverageReport:
    return coverage_report(make_plan(desired, current, safety=False), current)


def with_default(current: LiveState, *default_stacks: str) -> LiveState:
    """`current` with the default group holding `default_stacks` and `cost` at advisory."""
    groups = dict(current.groups)
    groups["default-policy-group"] = dataclasses.replace(
        groups["default-policy-group"],
        stacks=stacks(*default_stacks),
        packs=(applied("cost", "2.0.0", "advisory"),),
    )
    return dataclasses.replace(current, groups=groups, coverage=COVERAGE)


AWS_OLD = applied("aws", "1.0.0", "mandatory")
AWS_NEW = applied("aws", "1.3.0", "advisory", s3={"enforcementLevel": "mandatory"})


def sample() -> CoverageReport:
    """Two versions of `aws` on one stack (and the older alone on another), a stack moved
    out of the default group, an audit-only stack, per-policy levels and a pack with no
    level set."""
    current = with_default(
        live(
            live_group("prod", stacks=stacks("web/prod", "pay/prod"), packs=(AWS_OLD,)),
            live_group("platform", stacks=stacks("web/prod", "api/prod"), packs=(AWS_NEW,)),
            live_group("watch", mode="audit", stacks=stacks("ml/dev")),
        ),
        "ml/dev",
        "web/dev",
    )
    desired = state(
        desired_group(
            "platform",
            stacks=stacks("web/prod", "api/prod", "web/dev"),
            packs=(pack_ref("aws", "1.3.0"),),
        )
    )
    return report_of(desired, current)


HOSTILE_GROUP = '<script>alert("g")</script> & `x` | y'
HOSTILE_STACK = "evil<em>\"&'|`/st\u202eack"
HOSTILE_PACK = "<i>pack</i>|`"


def hostile() -> CoverageReport:
    """Markup, quotes, ampersands, pipes, backticks and a bidi control in every kind of name."""
    hostile_pack = dataclasses.replace(applied("aws", "1.0.0", "mandatory"), name=HOSTILE_PACK)
    current = live(live_group(HOSTILE_GROUP, stacks=stacks(HOSTILE_STACK), packs=(hostile_pack,)))
    return report_of(state(), current)


def large(count: int, moved: int) -> CoverageReport:
    """`count` stacks under the default group, of which the files move `moved` into a group."""
    names = [f"svc/s{i:04d}" for i in range(count)]
    current = with_default(live(), *names)
    desired = state(
        desired_group(
            "moved",
            stacks=stacks(*names[:moved]),
            packs=(pack_ref("aws", "1.3.0", "mandatory"),),
        )
    )
    return report_of(desired, current)
