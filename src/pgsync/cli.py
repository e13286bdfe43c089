"""The command line: the only place that prints, reads the environment and picks exit codes."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from pgsync import __version__
from pgsync.api import PolicyGroupsApi
from pgsync.apply import apply_plan
from pgsync.cli_drift import drift
from pgsync.cli_emulator import demo, emulator
from pgsync.cli_import import import_command
from pgsync.cli_options import Settings, common_options, reports_errors
from pgsync.cli_workflow import (
    EXIT_CHANGES,
    FORMAT,
    PATHS,
    make_api,
    make_plan,
    read_file,
    read_live,
    show_plan,
)
from pgsync.desired import load_desired
from pgsync.diff import diff
from pgsync.errors import Refused, StalePlan
from pgsync.model import LiveState
from pgsync.plan import Plan, build_plan
from pgsync.render import render_text
from pgsync.savedplan import input_reasons, parse_saved, restrict, stale_reasons, touched_names
from pgsync.schema import schema_text


class _Group(click.Group):
    """Usage errors exit 1, not click's 2: in the contract 2 means "changes pending" (§3)."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, standalone_mode=False, **extra)
        try:
            code = super().main(args, standalone_mode=False, **extra)
        except click.ClickException as error:
            error.show()
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgsync")
def cli() -> None:
    """Manage Pulumi Cloud Policy Groups as code.

    Declare groups in YAML, check them with `validate`, review the changes with `plan`,
    carry them out with `apply`. The access token comes only from PULUMI_ACCESS_TOKEN.
    Try `pgsync demo` for the whole loop against the built-in emulator.

    Exit codes: 0 success (no changes), 1 error, 2 changes pending (--detailed-exitcode,
    drift).
    """


@cli.command()
@PATHS
@click.option("--live", is_flag=True, help="Also check stacks, packs and accounts in the org.")
@common_options
@reports_errors
def validate(paths: tuple[str, ...], live: bool, settings: Settings) -> None:
    """Check desired-state files: schema, semantics, and with --live the org's contents.

    PATHS are YAML files or directories (every *.yaml / *.yml in them). Every problem is
    printed as file:line:col; exit 1 if there is any.
    """
    desired = load_desired(paths)
    if live:
        api = make_api(settings, desired.organization)
        diff(desired, read_live(api, desired))
    files = len(desired.inputs)
    click.echo(
        f"valid: {len(desired.groups)} groups for organization '{desired.organization}' "
        f"in {files} file{'s' if files != 1 else ''}" + (" (checked against live)" if live else "")
    )


@cli.command()
@PATHS
@FORMAT
@click.option("--out", type=click.Path(dir_okay=False), help="Also save the JSON plan here.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none."
)
@common_options
@reports_errors
def plan(
    paths: tuple[str, ...], fmt: str, out: str | None, detailed_exitcode: bool, settings: Settings
) -> None:
    """Show what apply would change: reads live state, writes nothing.

    Save the plan with --out and apply exactly it later with `apply --plan`.
    """
    result, _, _ = make_plan(paths, settings)
    show_plan(result, fmt, out, settings)
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)


@cli.command()
@PATHS
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for CI).")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Apply this saved plan; refused if files or live groups changed since.",
)
@common_options
@reports_errors
def apply(paths: tuple[str, ...], yes: bool, plan_file: str | None, settings: Settings) -> None:
    """Make the live policy groups match the files, then verify by reading them back.

    Order: renames, creates, updates, deletes. Stops at the first failure and reports what
    was and was not applied; running apply again converges. Asks for confirmation on a
    terminal unless --yes; without a terminal and without --yes it refuses.
    """
    if plan_file:
        result, api, live = _saved_plan(paths, plan_file, settings)
    else:
        result, api, live = make_plan(paths, settings)
    click.echo(render_text(result, color=settings.color), nl=False)
    if not result.has_changes:
        return
    _confirm(yes)
    started = time.monotonic()
    report = apply_plan(result, api, live.catalog, on_event=click.echo)
    click.echo(
        f"Apply complete: {len(report.outcomes)} groups changed with {report.writes} write "
        f"requests, all verified ({time.monotonic() - started:.1f}s)."
    )


def _saved_plan(
    paths: tuple[str, ...], plan_file: str, settings: Settings
) -> tuple[Plan, PolicyGroupsApi, LiveState]:
    """The saved plan, re-checked: same input files, and the groups it touches unchanged.

    Only the groups the plan writes to are read again; anything else that changed since
    is left for the next plan.
    """
    saved = parse_saved(read_file(plan_file), plan_file)
    desired = load_desired(paths)
    reasons = input_reasons(saved, desired)
    if reasons:
        raise StalePlan(reasons)
    touched = touched_names(saved)
    scope = restrict(desired, touched)
    api = make_api(settings, desired.organization)
    live = read_live(api, scope, touched)
    fresh = build_plan(desired.organization, diff(scope, live), desired.inputs)
    reasons = stale_reasons(saved, fresh, __version__)
    if reasons:
        raise StalePlan(reasons)
    return fresh, api, live


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("no terminal to confirm on: pass --yes to apply without asking")
    answer = click.prompt(
        "Apply these changes? Only 'yes' is accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise Refused("apply cancelled")


@cli.command()
@click.version_option(__version__, prog_name="pgsync")
def schema() -> None:
    """Print the desired-state JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


cli.add_command(drift)
cli.add_command(import_command)
cli.add_command(emulator)
cli.add_command(demo)


def main() -> None:
    cli(prog_name="pgsync")
