"""The `apply` command: plan (or a saved plan, re-checked), safety gates, confirm, apply, verify."""

from __future__ import annotations

import sys
import time

import click

from pgsync import __version__
from pgsync.apply import apply_plan
from pgsync.cli_options import PATHS, Settings, common_options, reports_errors
from pgsync.cli_workflow import (
    ALLOW,
    DEFAULT_JOURNAL,
    JOURNAL_ENV,
    Planned,
    exit_if_blocked,
    judged,
    make_api,
    make_plan,
    read_file,
    read_live,
)
from pgsync.desired import load_desired
from pgsync.diff import diff
from pgsync.display import display_plan
from pgsync.errors import Refused, StalePlan
from pgsync.journal import Journal, last_run_report, own_temporaries, read_events
from pgsync.plan import build_plan
from pgsync.render import render_text
from pgsync.savedplan import input_reasons, parse_saved, restrict, stale_reasons, touched_names
from pgsync.scrub import shown, shown_line


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
    "journal_path",
    envvar=JOURNAL_ENV,
    default=DEFAULT_JOURNAL,
    show_default=True,
    type=click.Path(dir_okay=False),
    help=(
        "Append each step (intended, sent, confirmed) to this JSONL file (env PGSYNC_JOURNAL);"
        " the temporary groups it shows this checkout made may be rolled back."
    ),
)
@click.option(
    "--resume",
    "resume_path",
    type=click.Path(dir_okay=False),
    help="First report what the last run in this journal did (e.g. one that crashed).",
)
@common_options
@reports_errors
def apply(
    *,
    paths: tuple[str, ...],
    yes: bool,
    plan_file: str | None,
    allow: tuple[str, ...],
    journal_path: str,
    resume_path: str | None,
    settings: Settings,
) -> None:
    """Make the live policy groups match the files, then verify by reading them back.

    Order: renames, creates, updates, replaces, deletes; the groups of each step are written
    --parallelism at a time. Just before writing a group it is read again; one that changed
    since the plan is skipped and reported (exit 1). At the first failure no further group
    is started (those under way finish) and it reports what was and was not applied;
    running apply again converges. A change blocked by a safety rule stops everything
    before the first write (exit 3) unless acknowledged with --allow. Asks for confirmation
    on a terminal unless --yes; without a terminal and without --yes it refuses.
    """
    if resume_path:
        click.echo(shown(last_run_report(read_events(resume_path))))
        click.echo()
    planned = _saved(paths, plan_file, settings, allow, journal_path) if plan_file else None
    planned = planned or make_plan(paths, settings, allow, journal_path)
    result = planned.plan
    click.echo(
        shown(render_text(display_plan(result), color=settings.color), colors=settings.color),
        nl=False,
    )
    exit_if_blocked(result)
    if not result.has_changes:
        return
    _confirm(yes)
    started = time.monotonic()
    journal = Journal(journal_path)
    try:
        report = apply_plan(
            result,
            planned.api,
            planned.live.catalog,
            on_event=lambda line: click.echo(shown_line(line)),
            journal=journal,
            parallelism=settings.parallelism,
        )
    finally:
        journal.close()
    click.echo(
        f"Apply complete: {len(report.outcomes)} groups changed with {report.writes} write "
        f"requests, all verified ({time.monotonic() - started:.1f}s)."
    )


def _saved(
    paths: tuple[str, ...],
    plan_file: str,
    settings: Settings,
    allow: tuple[str, ...],
    journal_path: str,
) -> Planned:
    """The saved plan, re-checked: same input files, and the groups it touches unchanged.

    Only the groups the plan writes to are read again (and, for the safety rules, the
    others where a change could leave a stack unprotected).
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
    own = own_temporaries(journal_path, desired.organization)
    fresh = build_plan(desired.organization, diff(scope, live, own), desired.inputs)
    reasons = stale_reasons(saved, fresh, __version__)
    if reasons:
        raise StalePlan(reasons)
    return judged(Planned(fresh, scope, live, api), allow)


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
