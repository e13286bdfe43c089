"""The `validate` and `schema` commands: the files and the schema they follow, no API needed."""

from __future__ import annotations

import click

from pgsync import __version__
from pgsync.cli.console import print_problems
from pgsync.cli.options import PATHS, Settings, common_options, reports_errors
from pgsync.core.escaping import shown
from pgsync.core.wording import counted
from pgsync.files import STDOUT
from pgsync.load.desired import load_desired
from pgsync.load.schema import schema_text


@click.command()
@PATHS
@click.option("--live", is_flag=True, help="Also check stacks, packs and accounts in the org.")
@common_options
@reports_errors
def validate(paths: tuple[str, ...], live: bool, settings: Settings) -> None:
    """Check desired-state files: schema, semantics, and with --live the org's contents.

    PATHS are YAML files or directories (every *.yaml / *.yml in them and in their
    sub-directories, skipping names that start with '.'). Every problem is printed as
    file:line:col; exit 1 if there is any.
    """
    desired = load_desired(paths, keep=True)
    print_problems(desired.warnings, level="warning")
    if live:
        # The client and the planner only for --live: checking files alone imports neither.
        from pgsync.cli.workflow import make_api, read_live  # noqa: PLC0415

        api = make_api(settings, desired.organization)
        current = read_live(api, desired, meanwhile=("pgsync.core.planning",))
        from pgsync.core.planning import make_plan  # noqa: PLC0415

        # What planning finds wrong is what --live checks; the plan itself is not shown.
        make_plan(desired, current, safety=False)
    click.echo(
        shown(
            f"valid: {counted(len(desired.groups), 'group')} for organization "
            f"'{desired.organization}' in {counted(len(desired.inputs), 'file')}"
            + (" (checked against live)" if live else "")
        )
    )


@click.command()
@click.option(
    "--out",
    metavar="FILE",
    help="Write the schema to FILE (its directory created) instead of stdout; - is stdout.",
)
@click.version_option(__version__, prog_name="pgsync")
@reports_errors
def schema(out: str | None) -> None:
    """Print the desired-state JSON Schema (for editors and other tools).

    With --out, write it to FILE instead, for repositories that keep a copy of it: whole or
    not at all, creating FILE's directory if it is missing.
    """
    if out is None or out == STDOUT:
        click.echo(schema_text(), nl=False)
        return
    # The file helpers only for --out: printing the schema imports neither.
    from pgsync.cli.workflow import prepare_output, write_file  # noqa: PLC0415

    prepare_output(out, "--out")
    write_file(out, schema_text())
