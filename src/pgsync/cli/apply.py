"""The `apply` command: plan (or a saved plan, re-checked), safety gates, confirm, apply, verify."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from pgsync import __version__
from pgsync.apply.journal import Journal, check_not_stdout, own_temporaries, resume_report
from pgsync.cli.console import print_problems
from pgsync.cli.meanwhile import APPLIER
from pgsync.cli.options import PATHS, Settings, common_options, reports_errors
from pgsync.cli.workflow import (
    ALLOW,
    JOURNAL_ENV,
    Planned,
    group_reader,
    journal_path,
    make_api,
    plan_live,
    prepare_output,
    read_file,
    read_live,
    refuse_if_blocked,
)
from pgsync.core.errors import Refused, StalePlan
from pgsync.core.escaping import escape, shown, shown_line
from pgsync.core.model import DesiredState
from pgsync.core.wording import counted
from pgsync.load.desired import load_desired

# What runs after the reads is imported there, while they wait (cli/meanwhile).
if TYPE_CHECKING:
    from pgsync.apply.events import ApplyEvent


@click.command()
@PATHS
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for CI).")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    help="Apply this saved plan; refused if files or live groups changed since.",
)
@ALLOW
@click.option(
    "--journal",
    "journal_option",
    envvar=JOURNAL_ENV,
    type=click.Path(dir_okay=False),
    help=(
        "Append each step (intended, sent, confirmed) to this JSONL file (env PGSYNC_JOURNAL);"
        " the temporary groups it shows this checkout made may be rolled back. Default: one"
        " file per organization and working directory in $RUNNER_TEMP/pgsync in GitHub"
        " Actions, else in $XDG_STATE_HOME/pgsync or ~/.local/state/pgsync."
    ),
)
@click.option(
    "--resume",
    "resume_path",
    is_flag=False,
    flag_value="",
    metavar="[FILE]",
    type=click.Path(dir_okay=False),
    help=(
        "First report what the last run in this journal (without FILE: the --journal one)"
        " did, e.g. one that crashed; no journal means it wrote nothing."
    ),
)
@common_options
@reports_errors
def apply(
    *,
    paths: tuple[str, ...],
    yes: bool,
    plan_file: str | None,
    allow: tuple[str, ...],
    journal_option: str | None,
    resume_path: str | None,
    settings: Settings,
) -> None:
    """Make the live policy groups match the files, then verify by reading them back.

    Order: renames, creates, updates, replaces, deletes; the groups of each step are written
    --parallelism at a time. Just before writing a group it is read again; one that changed
    since the plan is skipped and reported (exit 1). At the first failure no further group
    is started (those under way finish) and it reports what was and was not applied;
    running apply again converges. A change blocked by a safety rule stops everything
    before the first write unless acknowledged with --allow. Asks for confirmation on a
    terminal unless --yes; without a terminal and without --yes it refuses.

    Exit codes: 0 applied and verified (or nothing to change), 1 error, refusal, or a group
    not applied, 3 a change is blocked by a safety rule (nothing written).
    """
    if resume_path:
        # A journal named outright is reported first, even if the files no longer load.
        _report(resume_path)
    desired = load_desired(paths, keep=True)
    print_problems(desired.warnings, level="warning")
    journal_file = journal_path(journal_option, desired.organization)
    check_not_stdout(journal_file)
    prepare_output(journal_file, "--journal", desired.inputs)
    if resume_path == "":
        _report(journal_file)
    planned = (
        _saved(desired, plan_file, settings, allow, journal_file)
        if plan_file
        else plan_live(desired, settings, allow, journal_file, meanwhile=APPLIER)
    )
    from pgsync.apply.runner import apply_plan  # noqa: PLC0415
    from pgsync.render.display import display_plan  # noqa: PLC0415
    from pgsync.render.text import render_text  # noqa: PLC0415

    result = planned.plan
    click.echo(
        shown(render_text(display_plan(result), color=settings.color), colors=settings.color),
        nl=False,
    )
    refuse_if_blocked(result)
    if not result.has_changes:
        return
    _confirm(yes)
    printer = _Printer()
    journal = Journal(journal_file)
    try:
        apply_plan(
            result,
            planned.api,
            planned.live.catalog,
            observer=printer,
            journal=journal,
            parallelism=settings.parallelism,
        )
    finally:
        journal.close()


class _Printer:
    """Apply's events as lines on stdout: each group's outcome, the run's at the end."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, event: ApplyEvent) -> None:
        from pgsync.apply.events import (  # noqa: PLC0415
            AmbiguousWrite,
            ApplyFinished,
            GroupConfirmed,
            GroupFailed,
        )

        # Names and errors are escaped, so that none can start a line of its own.
        match event:
            case GroupConfirmed(group):
                click.echo(shown_line(f"  ✓ {group.action} {escape(group.name)}"))
            case GroupFailed(group, error):
                click.echo(shown_line(f"  ✗ {group.action} {escape(group.name)}: {escape(error)}"))
            case AmbiguousWrite(group, error, remaining):
                click.echo(
                    shown_line(
                        f"  ! {escape(group.name)}: {escape(error)}; "
                        f"{counted(remaining, 'request')} still needed"
                    )
                )
            case ApplyFinished(report) if report.ok:
                # A failed run ends with ApplyFailed, which says what was and was not done.
                seconds = time.monotonic() - self.started
                click.echo(
                    f"Apply complete: {counted(len(report.outcomes), 'group')} changed with "
                    f"{counted(report.writes, 'write request')}, all verified ({seconds:.1f}s)."
                )


def _report(journal: str) -> None:
    # A missing journal is reported, not an error (exit 1 is for errors, §3): it means the
    # run being resumed sent no write, and the apply that follows starts from what is live.
    click.echo(shown(resume_report(journal)))
    click.echo()


def _saved(
    desired: DesiredState,
    plan_file: str,
    settings: Settings,
    allow: tuple[str, ...],
    journal: str,
) -> Planned:
    """The saved plan, re-checked: same input files, and the groups it touches unchanged.

    Only the groups the plan writes to are read again (and, for the safety rules, the
    others where a change could leave a stack unprotected, once the plan is known to hold).
    """
    from pgsync.apply.savedplan import (  # noqa: PLC0415
        input_reasons,
        parse_saved,
        restrict,
        stale_reasons,
        touched_names,
    )

    saved = parse_saved(read_file(plan_file), plan_file)
    reasons = input_reasons(saved, desired)
    if reasons:
        raise StalePlan(reasons)
    touched = touched_names(saved)
    scope = restrict(desired, touched)
    api = make_api(settings, desired.organization)
    live = read_live(api, scope, touched, meanwhile=APPLIER)
    from pgsync.core.planning import make_plan, needs_every_group  # noqa: PLC0415

    own = own_temporaries(journal, desired.organization)
    fresh = make_plan(scope, live, own_temporaries=own, allow=allow)
    reasons = stale_reasons(saved, fresh, __version__)
    if reasons:
        raise StalePlan(reasons)
    if needs_every_group(fresh.groups, live):
        # Planned again with the rest of the org at hand: no read is spent on a stale plan.
        fresh = make_plan(
            scope, live, own_temporaries=own, allow=allow, read_groups=group_reader(api)
        )
    return Planned(fresh, scope, live, api)


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
