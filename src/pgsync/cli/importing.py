"""The `import` command: live groups → a desired-state file, proven to plan to zero changes."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pgsync.cli.console import Progress
from pgsync.cli.options import Settings, common_options, reports_errors
from pgsync.cli.workflow import make_api, prepare_output
from pgsync.core.errors import PgsyncError, ValidationFailed
from pgsync.core.masking import remember_live
from pgsync.core.model import LiveState, OrgCatalog
from pgsync.core.plan import GroupPlan
from pgsync.core.planning import make_plan
from pgsync.core.wording import counted
from pgsync.files import STDOUT, StagedFile
from pgsync.load.desired import load_desired
from pgsync.load.importer import (
    COMPACT_MIN_GROUPS,
    assume_live,
    export_yaml,
    group_at,
    pack_set_at,
    pack_sets,
)
from pgsync.load.packconfig import Placeholder
from pgsync.load.schema import PATTERN_MESSAGES, schema_text
from pgsync.render.text import change_line

if TYPE_CHECKING:
    from pgsync.remote.api import PolicyGroupsApi


@click.command("import")
@click.option("--org", "organization", required=True, help="The organization to import.")
@click.option(
    "--out",
    type=click.Path(),
    help=(
        "Write the file here (atomically, creating its directory if need be; '-' is stdout)"
        " instead of to stdout."
    ),
)
@click.option(
    "--compact",
    is_flag=True,
    help=(
        f"Write each pack that {COMPACT_MIN_GROUPS} or more groups hold identically once, in"
        " a pack set that those groups use ({use: SET})."
    ),
)
@common_options
@reports_errors
def import_command(organization: str, out: str | None, compact: bool, settings: Settings) -> None:
    """Write every live policy group of an organization as a desired-state file.

    The file lists the groups in a stable order with their stacks or accounts and their
    packs (name, versionTag, enforcement level, config, environments). The default groups
    get their packs but no member lists: Pulumi Cloud adds new stacks and accounts to them
    itself. Before anything is written, the file is planned against the live groups it
    came from; unless that plan is empty, import says which groups would change, writes
    nothing and exits 1.

    No live value of a config setting whose name looks secret (password, secret, token,
    apikey, privatekey) is written: the file has an unfilled `fn::secret` placeholder there
    instead, and import lists each one on stderr as FILE:LINE:COL; plan and apply refuse
    the file until they are filled in.

    With --compact, a pack that three or more groups hold identically (name, versionTag,
    enforcement level, config with its secret values, environments) is written once, in
    `packSets`: the packs that exactly the same groups hold form one set, and each of those
    groups lists `{use: SET}` before its other packs (a set's entry is never overridden).
    The set that most groups use is `baseline`, the others `set-2`, `set-3`, ... by how
    many groups use them, then how many packs they hold (most first); a name that a pack
    has gets `-set` appended. A secret setting in a set is one placeholder, for every group
    that uses the set. Without such repetition there are no packSets: the file is the plain
    import's. With --out, the closing line says how many pack sets the file has.
    """
    _check_organization(organization)
    if out == STDOUT:
        out = None
    if out is not None:
        prepare_output(out, "--out")
    live = _read_everything(make_api(settings, organization))
    text = export_yaml(live, compact=compact)
    placeholders: list[Placeholder] = []
    with _staged(text, out) as staged:
        reasons = _round_trip_reasons(staged.path, text, live, placeholders)
        if reasons:
            raise PgsyncError(
                "the exported file would not plan to zero changes, so nothing was written:\n"
                + "\n".join(f"  {reason}" for reason in reasons)
            )
        if out is None:
            click.echo(text, nl=False)
        else:
            try:
                staged.commit()
            except OSError as error:
                raise PgsyncError(f"cannot write {out}: {error.strerror}") from None
    # The staged file has the same text, so its lines and columns are the written file's.
    # A placeholder in a pack set is one per group that uses the set, all at one spot.
    for where in sorted({p.location for p in placeholders}):
        click.echo(
            f"{out or '<stdout>'}:{where.line}:{where.col}: fill in the secret value", err=True
        )
    if out is not None:
        count = len(live.groups)
        sets = len(pack_sets(live)) if compact else 0
        shared = f" ({counted(sets, 'pack set')})" if sets else " (no pack sets)"
        click.echo(
            f"imported {count} group{'s' if count != 1 else ''} from organization "
            f"'{organization}' into {out}{shared if compact else ''}"
        )


def _check_organization(organization: str) -> None:
    """The files' rule for organization names: '.', '..' or a '/' would change the URL path."""
    rule = json.loads(schema_text())["properties"]["organization"]
    if len(organization) < rule["minLength"] or not re.search(rule["pattern"], organization):
        message = PATTERN_MESSAGES[rule["pattern"]]
        raise PgsyncError(f"--org '{organization}': {message}")


def _read_everything(api: PolicyGroupsApi) -> LiveState:
    """Every group in full, and the whole catalog that a later plan of the file checks against."""
    progress = Progress("reading policy groups")
    try:
        groups = api.get_groups(api.group_names(), progress)
    finally:
        progress.finish()
    remember_live(groups.values())
    # Accounts are read only where account groups have members: orgs without Insights
    # need not answer the accounts listing at all.
    has_accounts = any(g.accounts for g in groups.values())
    catalog = OrgCatalog(
        packs=api.published_packs(),
        stacks=api.stacks(),
        accounts=api.accounts() if has_accounts else frozenset(),
    )
    return LiveState(api.organization, groups, catalog)


@contextmanager
def _staged(text: str, out: str | None) -> Iterator[StagedFile]:
    """`text` in a file to check: beside --out, to be renamed into place; else in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="pgsync-import-") as directory:
        target = out or str(Path(directory) / "policygroups.yaml")
        try:
            staged = StagedFile(target, text)
        except OSError as error:
            raise PgsyncError(f"cannot write {target}: {error.strerror}") from None
        with staged:
            yield staged


def _round_trip_reasons(
    staged: Path, text: str, live: LiveState, placeholders: list[Placeholder]
) -> list[str]:
    """Why a plan of the staged file against `live` is not empty, one line per group or problem.

    The file's secret placeholders are added to `placeholders`; each counts as known-unknown.
    """
    try:
        desired = load_desired([staged], placeholders=placeholders)
        # Only the actions prove the round trip: the safety rules have nothing to say.
        plan = make_plan(assume_live(desired, placeholders, live), live, safety=False)
    except ValidationFailed as failed:
        # The staged file's name and lines mean nothing to the user; its groups do, and a
        # message through a pack set names its line in the file the user would get.
        staged_at = re.compile(re.escape(str(staged)) + r":(\d+):\d+")
        return [
            _where(text, p.location.line) + staged_at.sub(r"line \1", p.message)
            for p in failed.problems
        ]
    return [_changed(group) for group in plan.groups if group.action != "unchanged"]


def _where(text: str, line: int) -> str:
    name = group_at(text, line)
    if name is not None:
        return f"group '{name}': "
    pack_set = pack_set_at(text, line)
    return f"pack set '{pack_set}': " if pack_set is not None else f"line {line}: "


_OUTCOMES = {
    "create": "be created",
    "update": "be updated",
    "rename": "be renamed",
    "replace": "be replaced",
    "delete": "be deleted",
    "unmanaged": "be left unmanaged",
}


def _changed(group: GroupPlan) -> str:
    reason = f"group '{group.name}' would {_OUTCOMES[group.action]}"
    changes = "; ".join(" ".join(change_line(c)[:2]) for c in group.changes)
    return f"{reason}: {changes}" if changes else reason
