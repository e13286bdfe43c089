"""Plan and apply examples/policygroups.yaml with pgsync's Python API.

What `pgsync apply --yes examples/policygroups.yaml` does, as a script: run it from the
checkout's root, with no arguments. The API is $PULUMI_BACKEND_URL (default
https://api.pulumi.com) and the token $PULUMI_ACCESS_TOKEN, as for the CLI. It writes
without asking: try it against the demo emulator first,

    pgsync emulator --port 8080 &
    PULUMI_BACKEND_URL=http://127.0.0.1:8080 python examples/plan_and_apply.py

and run it again to see that nothing is left to change.
"""

from __future__ import annotations

import os
import sys

import pgsync

DESIRED = "examples/policygroups.yaml"


def main() -> int:
    try:
        plan_and_apply()
    except pgsync.ValidationFailed as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return error.exit_code
    except pgsync.PgsyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def plan_and_apply() -> None:
    desired = pgsync.load_desired([DESIRED])
    url = os.environ.get("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    with pgsync.Client(url, os.environ.get("PULUMI_ACCESS_TOKEN")) as client:
        api = pgsync.PolicyGroupsApi(client, desired.organization)
        live = api.read_live_state(desired, coverage=True)
        # The safety rules may need groups that the plan itself does not: read them if so.
        plan = pgsync.make_plan(desired, live, read_groups=api.get_groups)
        # Names come from the files and the API: shown with invisible characters escaped.
        shown = pgsync.display_plan(plan)
        print(pgsync.render_text(shown), end="")
        if plan.blocked:
            raise pgsync.SafetyBlocked([finding.id for finding in shown.blocked])
        if plan.has_changes:
            report = pgsync.apply_plan(plan, api, live.catalog, observer=show)
            print(
                f"Apply complete: {len(report.outcomes)} groups changed with"
                f" {report.writes} write requests, all verified."
            )


def show(event: pgsync.ApplyEvent) -> None:
    """A line for each group as apply finishes it; a name is shown as repr shows it, so that
    no name from the API can start a line or hold a terminal's escape sequence."""
    match event:
        case pgsync.GroupConfirmed(group):
            print(f"  ✓ {group.action} {group.name!r}")
        case pgsync.GroupSkipped(group, reason):
            print(f"  - {group.action} {group.name!r} skipped: {reason}")
        case pgsync.GroupFailed(group, error):
            print(f"  ✗ {group.action} {group.name!r}: {error}")


if __name__ == "__main__":
    sys.exit(main())
