"""The `drift` command: for scheduled jobs, with an optional three-way view against a git ref."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import click

from pgsync.cli.console import print_problems
from pgsync.cli.options import PATHS, Settings, common_options, reports_errors
from pgsync.cli.workflow import FORMAT, make_api, read_live, show_plan
from pgsync.core.diff import diff
from pgsync.core.drift import GroupDrift, classify
from pgsync.core.errors import ChangesPending, PgsyncError, ValidationFailed
from pgsync.core.escaping import escape, shown
from pgsync.core.model import DesiredState, LiveState
from pgsync.core.plan import Plan
from pgsync.core.planning import make_plan
from pgsync.core.wording import counted
from pgsync.load.desired import load_desired
from pgsync.load.gitrefs import files_at
from pgsync.render.drift import render_drift
from pgsync.render.text import change_json


@click.command()
@PATHS
@FORMAT
@click.option(
    "--base",
    metavar="REF",
    help="Git ref of the same files (e.g. origin/main): tell for each difference whether it "
    "is a change in Git not yet applied, a live change made outside Git, or both.",
)
@common_options
@reports_errors
def drift(paths: tuple[str, ...], fmt: str, base: str | None, settings: Settings) -> None:
    """For scheduled jobs: exit 0 in sync, 2 on drift, 1 on error.

    Prints, headed "drift", what would bring the live groups back to the files, with the
    org's policy coverage. With --base, each difference is labelled against the files as
    they were at REF: a change in Git not yet applied, a change made live outside Git, or
    both. Safety rules are not evaluated: a change they would block is drift like any
    other, so drift never exits 3.
    """
    desired = load_desired(paths, keep=True)
    print_problems(desired.warnings, level="warning")
    api = make_api(settings, desired.organization)
    base_state = _base_state(base, paths, desired) if base else None
    scope = desired
    if base_state is not None:
        scope = dataclasses.replace(
            desired,
            groups=desired.groups + base_state.groups,
            prune=desired.prune or base_state.prune,
        )
    live = read_live(api, scope, coverage=True)
    result = make_plan(desired, live, safety=False)
    drifts = _drifts(result, base_state, live, base) if base_state else {}
    show_plan(
        result,
        fmt,
        None,
        settings,
        extras=_extras(drifts, result),
        epilogue=lambda markdown: render_drift(drifts, result, base or "", markdown=markdown),
        kind="drift",
    )
    if result.has_changes:
        raise ChangesPending


def _base_state(ref: str, paths: tuple[str, ...], desired: DesiredState) -> DesiredState | None:
    """The desired state at `ref`; None (with a warning) when it cannot be loaded."""
    with tempfile.TemporaryDirectory(prefix="pgsync-base-") as tmp:
        files = files_at(ref, paths, Path(tmp))
        if not files:
            return DesiredState(desired.organization, ())
        try:
            return load_desired(files)
        except ValidationFailed as error:
            click.echo(
                shown(
                    f"warning: the files at {escape(ref)} are not valid "
                    f"({counted(len(error.problems), 'problem')}); differences are not classified"
                ),
                err=True,
            )
            return None


def _drifts(
    result: Plan, base_state: DesiredState, live: LiveState, ref: str | None
) -> dict[str, GroupDrift]:
    try:
        # Its verdicts are enough: the base's requests are never sent nor shown.
        base_verdicts = diff(base_state, live)
    except PgsyncError as error:
        # The first problem alone, whole: its names may hold line breaks of their own.
        first = _first_problem(error)
        click.echo(
            shown(
                f"warning: the files at {escape(ref or '')} no longer plan against the org "
                f"({escape(first)}); "
                "differences are not classified"
            ),
            err=True,
        )
        return {}
    return classify(result.groups, base_verdicts)


def _extras(drifts: dict[str, GroupDrift], result: Plan) -> dict[str, dict[str, Any]]:
    """JSON keys added to the classified groups: `drift` on the group and on each change."""
    return {
        group.name: {
            "drift": drifts[group.name].origin,
            "changes": [
                {**change_json(change), "drift": origin}
                for change, origin in zip(group.changes, drifts[group.name].changes, strict=True)
            ],
        }
        for group in result.groups
        if group.name in drifts
    }


def _first_problem(error: PgsyncError) -> str:
    if isinstance(error, ValidationFailed) and error.problems:
        return str(error.problems[0])
    return str(error).split("\n", 1)[0] or type(error).__name__
