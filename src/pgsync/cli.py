"""The command line: the only place that prints, reads the environment and picks exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from pgsync import __version__
from pgsync.cli_apply import apply
from pgsync.cli_drift import drift
from pgsync.cli_emulator import demo, emulator
from pgsync.cli_import import import_command
from pgsync.cli_options import Settings, common_options, reports_errors
from pgsync.cli_workflow import (
    ALLOW,
    EXIT_CHANGES,
    FORMAT,
    PATHS,
    exit_if_blocked,
    make_api,
    make_plan,
    read_live,
    show_plan,
)
from pgsync.desired import load_desired
from pgsync.diff import diff
from pgsync.schema import schema_text
from pgsync.scrub import shown


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
        shown(
            f"valid: {len(desired.groups)} groups for organization '{desired.organization}' "
            f"in {files} file{'s' if files != 1 else ''}"
            + (" (checked against live)" if live else "")
        )
    )


@cli.command()
@PATHS
@FORMAT
@click.option("--out", type=click.Path(dir_okay=False), help="Also save the JSON plan here.")
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
    """
    result = make_plan(paths, settings, allow).plan
    show_plan(result, fmt, out, settings)
    exit_if_blocked(result)
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)


@cli.command()
@click.version_option(__version__, prog_name="pgsync")
def schema() -> None:
    """Print the desired-state JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


cli.add_command(apply)
cli.add_command(drift)
cli.add_command(import_command)
cli.add_command(emulator)
cli.add_command(demo)


def main() -> None:
    cli(prog_name="pgsync")
