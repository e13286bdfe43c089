"""The `plan` command: what apply would change, read from the org, nothing written."""

from __future__ import annotations

import click

from pgsync.cli.console import print_problems
from pgsync.cli.options import PATHS, Settings, common_options, reports_errors
from pgsync.cli.workflow import (
    ALLOW,
    FORMAT,
    journal_path,
    plan_live,
    prepare_output,
    refuse_if_blocked,
    show_plan,
)
from pgsync.core.errors import ChangesPending
from pgsync.files import STDOUT
from pgsync.load.desired import load_desired


@click.command()
@PATHS
@FORMAT
@click.option(
    "--out",
    type=click.Path(),
    help="Also save the JSON plan here ('-': stdout), creating its directory if need be.",
)
@ALLOW
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none."
)
@common_options
@reports_errors
def plan(
    *,
    paths: tuple[str, ...],
    fmt: str,
    out: str | None,
    detailed_exitcode: bool,
    allow: tuple[str, ...],
    settings: Settings,
) -> None:
    """Show what apply would change: reads live state, writes nothing.

    Save the plan with --out and apply exactly it later with `apply --plan`.

    Exit codes: 0 success, 1 error, 2 changes pending (only with --detailed-exitcode),
    3 a change is blocked by a safety rule (acknowledge it with --allow ID).
    """
    desired = load_desired(paths, keep=True)
    print_problems(desired.warnings, level="warning")
    if out and out != STDOUT:
        prepare_output(out, "--out", desired.inputs)
    journal = journal_path(None, desired.organization)
    result = plan_live(desired, settings, allow, journal).plan
    show_plan(result, fmt, out, settings)
    refuse_if_blocked(result)
    if detailed_exitcode and result.has_changes:
        raise ChangesPending
