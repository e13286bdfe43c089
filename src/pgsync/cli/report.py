"""The `report` command: the organization's policy coverage, live and as the files would make it."""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import click

from pgsync.cli.console import print_problems
from pgsync.cli.options import PATHS, Settings, common_options, reports_errors
from pgsync.cli.workflow import make_api, prepare_output, read_live, write_file
from pgsync.core.coverage import CoverageReport, coverage_report
from pgsync.core.errors import PgsyncError
from pgsync.core.escaping import shown, shown_json
from pgsync.core.gcpause import gc_paused
from pgsync.core.impact import sets_new_rule
from pgsync.core.model import LiveState, StackRef
from pgsync.core.plan import Plan
from pgsync.core.planning import make_plan
from pgsync.files import STDOUT
from pgsync.load.desired import load_desired
from pgsync.render.report_html import render_report_html
from pgsync.render.report_json import render_report_json
from pgsync.render.report_markdown import render_report_markdown

if TYPE_CHECKING:
    from pgsync.remote.api import PolicyGroupsApi

EPOCH_ENV = "SOURCE_DATE_EPOCH"
"""The reproducible-builds variable: when set, the report's time (seconds since 1970, UTC)."""

RENDERERS: Mapping[str, Callable[[CoverageReport, datetime.datetime | None], str]] = {
    "html": render_report_html,
    "markdown": render_report_markdown,
    "json": render_report_json,
}


@click.command()
@PATHS
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(RENDERERS)),
    default="html",
    show_default=True,
    help="html: one self-contained page; markdown for PR comments; json for tools.",
)
@click.option(
    "--out",
    type=click.Path(),
    metavar="FILE",
    help="Write the report to FILE (whole or not at all; its directory created) instead of "
    "stdout ('-': stdout).",
)
@common_options
@reports_errors
def report(*, paths: tuple[str, ...], fmt: str, out: str | None, settings: Settings) -> None:
    """Report the org's policy coverage, live and as the files would make it.

    A stack by pack matrix of enforcement levels (live and with the files, showing what
    changes), the stacks that only the default group protects, those that no preventative
    policy reaches, each group, and the service's coverage counts. Reads every live group;
    writes nothing to the organization. No config values appear in the report.

    The HTML report is one self-contained file that needs no network; its time comes from
    SOURCE_DATE_EPOCH when set, for reproducible output.
    """
    desired = load_desired(paths, keep=True)
    print_problems(desired.warnings, level="warning")
    to_file = out is not None and out != STDOUT
    if out is not None and to_file:
        prepare_output(out, "--out", desired.inputs)
    generated = _generated(os.environ)
    api = make_api(settings, desired.organization)
    # Every group, as pruning reads them: a stack's coverage depends on all groups it is in.
    live = read_live(api, dataclasses.replace(desired, prune=True), coverage=True)
    with gc_paused(keep=True):
        plan = make_plan(desired, live, safety=False)
        built = coverage_report(plan, live, _rule_matches(api, plan), _every_stack(api, live))
        text = RENDERERS[fmt](built, generated)
    text = shown_json(text) if fmt == "json" else shown(text)
    if out is not None and to_file:
        write_file(out, text)
    else:
        click.echo(text, nl=False)


def _generated(env: Mapping[str, str]) -> datetime.datetime:
    """Now, or the time SOURCE_DATE_EPOCH gives, in UTC to the second."""
    given = env.get(EPOCH_ENV)
    if not given:
        return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    try:
        return datetime.datetime.fromtimestamp(int(given), datetime.UTC)
    except (ValueError, OverflowError, OSError):
        raise PgsyncError(
            f"{EPOCH_ENV} must be a whole number of seconds since 1970, not {given!r}"
        ) from None


def _every_stack(api: PolicyGroupsApi, live: LiveState) -> frozenset[StackRef]:
    """Every stack of the org. A stack in no group (taken out of the default group) has no
    preventative policy; the org's listing is paged only when the groups read do not hold
    as many stacks as the service counts."""
    held = frozenset().union(*(g.stacks | g.rule_stacks for g in live.groups.values()))
    total = live.coverage.total_stacks if live.coverage is not None else None
    return held if total is not None and len(held) >= total else api.stacks()


def _rule_matches(api: PolicyGroupsApi, plan: Plan) -> dict[str, frozenset[StackRef]]:
    """What each stack rule the plan sets or changes matches now, by group name."""
    found = {}
    for group in plan.groups:
        if group.desired is None or group.desired.stack_match is None:
            continue
        rule = group.desired.stack_match.rule
        if rule is not None and sets_new_rule(group):
            names, _ = api.matches(rule)
            found[group.name] = frozenset(StackRef.parse(name) for name in names)
    return found
