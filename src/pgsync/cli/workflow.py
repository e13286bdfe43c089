"""What the commands share: building the client, reading live state, planning, files, output."""

from __future__ import annotations

import gc
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pgsync import __version__
from pgsync.apply.journal import own_temporaries
from pgsync.cli.console import Progress
from pgsync.cli.github import (
    PR_COMMENT_LIMIT,
    STEP_SUMMARY_CAP,
    append_step_summary,
    is_github_actions,
    plan_outputs,
    report_link,
    write_outputs,
)
from pgsync.cli.meanwhile import PLANNER, import_meanwhile
from pgsync.cli.options import Settings
from pgsync.core.errors import PgsyncError, SafetyBlocked
from pgsync.core.escaping import escape, shown, shown_json
from pgsync.core.gcpause import gc_paused
from pgsync.core.masking import remember_live
from pgsync.core.model import DesiredState, InputFile, LiveGroup, LiveState
from pgsync.files import STDOUT, check_writable, input_limit, read_input, replace_file
from pgsync.remote.accesstoken import TOKEN_ENV

# The planner and the renderers are imported by the functions that use them, after the
# reads: `read_live` has them imported while the reads wait (cli/meanwhile).
if TYPE_CHECKING:
    from pgsync.core.plan import Plan
    from pgsync.core.planning import ReadGroups
    from pgsync.remote.api import PolicyGroupsApi
    from pgsync.render.text import Kind

JOURNAL_ENV = "PGSYNC_JOURNAL"
STATE_ENV = "XDG_STATE_HOME"
JSON_HINT = "the full plan is in the JSON plan (`plan_json` output)"

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="text for people, markdown for PR comments, json for tools (the contract's plan).",
)


def make_api(settings: Settings, organization: str) -> PolicyGroupsApi:
    """The API for one organization; no token is needed only for a loopback emulator.

    What the user must fix (the URL, the token) is said before any request is sent.
    """
    # Here, not at the top: only the commands that talk to the API import httpx.
    from pgsync.remote.api import PolicyGroupsApi  # noqa: PLC0415
    from pgsync.remote.client import REQUEST_DEADLINE, Client, is_loopback  # noqa: PLC0415

    url = settings.api_url
    if "://" not in url:
        scheme = "http" if is_loopback(f"http://{url}") else "https"
        raise PgsyncError(f"--api-url {url} has no scheme; write {scheme}://{url}")
    token = settings.token
    if not token and not is_loopback(url):
        raise PgsyncError(
            f"{TOKEN_ENV} is not set (or empty); create a token at "
            "https://app.pulumi.com/account/tokens and export it"
        )
    client = Client(
        url,
        token,
        parallelism=settings.parallelism,
        max_rps=settings.max_rps,
        timeout=settings.read_timeout,
        connect_timeout=settings.connect_timeout,
        # Longer timeouts than the defaults lengthen the bound on a whole answer with them.
        deadline=max(REQUEST_DEADLINE, settings.connect_timeout + settings.read_timeout),
        on_retry=lambda line: click.echo(shown(line), err=True),
    )
    return PolicyGroupsApi(client, organization)


def read_live(
    api: PolicyGroupsApi,
    desired: DesiredState,
    only: frozenset[str] | None = None,
    *,
    coverage: bool = False,
    meanwhile: Sequence[str] = PLANNER,
) -> LiveState:
    """The live state the plan of `desired` needs; `meanwhile` names the modules the command
    needs next, imported while the reads wait."""
    progress = Progress("reading policy groups")
    import_meanwhile(meanwhile)
    try:
        live = api.read_live_state(desired, only=only, progress=progress, coverage=coverage)
    finally:
        progress.finish()
    remember_live(live.groups.values())
    # The files' and the org's state live until the command ends: moved out of the
    # collector's sight, no full collection rescans their million objects after the plan
    # (0.2 s of a 1,000-group plan with 100 stacks each).
    gc.freeze()
    return live


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan with what made it: the desired state, the live state read, the API."""

    plan: Plan
    desired: DesiredState
    live: LiveState
    api: PolicyGroupsApi


def default_journal(organization: str, env: Mapping[str, str], cwd: Path) -> Path:
    """The journal of `organization` run from `cwd`, unless --journal or $PGSYNC_JOURNAL says.

    Outside the working tree, where it is never committed nor read as a config: in GitHub
    Actions `$RUNNER_TEMP/pgsync/`, else `$XDG_STATE_HOME/pgsync/`, else
    `~/.local/state/pgsync/`. The name holds the organization and a hash of both it and
    the working directory, so two checkouts never take each other's temporary groups.
    """
    runner_temp = env.get("RUNNER_TEMP")
    state = env.get(STATE_ENV, "")
    if is_github_actions(env) and runner_temp:
        base = Path(runner_temp)
    elif os.path.isabs(state):
        # The XDG spec has a relative value ignored, as if unset.
        base = Path(state)
    else:
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            raise PgsyncError(
                "no home directory for the apply journal: set PGSYNC_JOURNAL or pass --journal"
            )
        base = Path(home) / ".local" / "state"
    digest = hashlib.sha256(f"{cwd}\0{organization}".encode()).hexdigest()[:12]
    # Any name the schema allows is one path segment, but not every one is a tidy file name.
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", organization)[:64]
    return base / "pgsync" / f"journal-{readable}-{digest}.jsonl"


def journal_path(given: str | None, organization: str) -> str:
    """The apply journal: `given`, else $PGSYNC_JOURNAL, else default_journal."""
    chosen = given or os.environ.get(JOURNAL_ENV)
    return chosen or str(default_journal(organization, os.environ, Path.cwd()))


def plan_live(
    desired: DesiredState,
    settings: Settings,
    allow: tuple[str, ...],
    journal: str,
    meanwhile: Sequence[str] = PLANNER,
) -> Planned:
    """Read the live state and make the plan, judged by the safety rules.

    The journal at `journal` tells which temporary groups this checkout made; `meanwhile`
    is what the command needs after the reads (see read_live).
    """
    api = make_api(settings, desired.organization)
    live = read_live(api, desired, coverage=True, meanwhile=meanwhile)
    from pgsync.core.planning import make_plan  # noqa: PLC0415

    own = own_temporaries(journal, desired.organization)
    with gc_paused(keep=True):
        result = make_plan(
            desired, live, own_temporaries=own, allow=allow, read_groups=group_reader(api)
        )
    return Planned(result, desired, live, api)


def group_reader(api: PolicyGroupsApi) -> ReadGroups:
    """make_plan's `read_groups`: the groups read, their secret-looking values remembered."""

    def read(names: Sequence[str]) -> Mapping[str, LiveGroup]:
        groups = api.get_groups(names)
        remember_live(groups.values())
        return groups

    return read


def refuse_if_blocked(result: Plan) -> None:
    """SafetyBlocked when a safety rule blocks a change (raised after the plan is shown)."""
    if result.blocked:
        # Ids hold live group names: each is escaped, so that none can start a line.
        raise SafetyBlocked([escape(f.id) for f in result.blocked])


ALLOW = click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="ID",
    help="Acknowledge the safety finding ID printed in the plan (repeatable).",
)


def prepare_output(path: str, option: str, inputs: Iterable[InputFile] = ()) -> None:
    """Before any request: check that `path` can be written, creating its directory.

    An output that cannot be written fails the command before the organization is read,
    not after. `inputs` are the desired-state files, which an output must not replace.
    """
    target = Path(path)
    if path.endswith(os.sep) or target.is_dir():
        raise PgsyncError(
            f"cannot write {path}: it names a directory; give {option} the path of a file in it"
        )
    if any(_same_file(target, Path(f.path)) for f in inputs):
        raise PgsyncError(
            f"cannot write {path}: it is a desired-state file read by this command;"
            f" give {option} another path"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = _not_a_directory(target.parent)
        reason = (
            f"{blocker} is not a directory"
            if blocker is not None
            else f"cannot create {target.parent}: {error.strerror}"
        )
        raise PgsyncError(f"cannot write {path}: {reason}; give {option} another path") from None
    try:
        check_writable(target)
    except OSError as error:
        raise PgsyncError(
            f"cannot write {path}: {error.strerror}; give {option} another path"
        ) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _not_a_directory(directory: Path) -> Path | None:
    """The first of `directory` and the directories above it that exists and is no directory."""
    for candidate in (*reversed(directory.parents), directory):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def write_file(path: str, text: str) -> None:
    """Write whole or not at all (see files.StagedFile)."""
    try:
        replace_file(path, text)
    except OSError as error:
        raise PgsyncError(f"cannot write {path}: {error.strerror}") from None


def read_file(path: str) -> str:
    try:
        return read_input(Path(path), input_limit(os.environ)).decode("utf-8")
    except OSError as error:
        raise PgsyncError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise PgsyncError(f"cannot read {path}: {error}") from None


def show_plan(
    result: Plan,
    fmt: str,
    out: str | None,
    settings: Settings,
    *,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
    epilogue: Callable[[bool], str] = lambda markdown: "",
    kind: Kind = "plan",
) -> None:
    """Print the plan in `fmt`, save its JSON to `out`, and publish it to GitHub Actions.

    `extras` adds keys to groups of the JSON plan; `epilogue(markdown)` is a section to
    print after the text or Markdown plan; `kind` heads the text and Markdown plans.
    """
    from pgsync.render.display import display_plan  # noqa: PLC0415
    from pgsync.render.markdown import render_markdown  # noqa: PLC0415
    from pgsync.render.text import render_json, render_text  # noqa: PLC0415

    to_stdout = out == STDOUT
    on_github = is_github_actions(os.environ)
    # Rendered only when something takes it: a plan of 10,000 groups spends 0.13 s on it.
    needed = bool(out) or fmt == "json" or on_github
    as_json = shown_json(render_json(result, __version__, extras)) if needed else ""
    # `--out -`: stdout holds the JSON plan alone, and the plan in `fmt` goes to stderr.
    if out and not to_stdout:
        write_file(out, as_json)
    if to_stdout or fmt == "json":
        click.echo(as_json, nl=False)
    if fmt == "markdown":
        link = report_link(os.environ)
        markdown = render_markdown(
            display_plan(result), kind=kind, limit=PR_COMMENT_LIMIT - len(link)
        )
        click.echo(shown(markdown + link + epilogue(True)), nl=False, err=to_stdout)
    elif fmt == "text":
        text = shown(
            render_text(display_plan(result), color=settings.color, kind=kind) + epilogue(False),
            colors=settings.color,
        )
        click.echo(text, nl=False, err=to_stdout)
    if on_github:
        _publish(result, as_json, None if to_stdout else out, epilogue(True), kind)


def _publish(result: Plan, as_json: str, out: str | None, epilogue: str, kind: Kind) -> None:
    """Step summary and step outputs; the JSON plan is saved for the outputs to point at."""
    from pgsync.render.display import display_plan  # noqa: PLC0415
    from pgsync.render.markdown import render_markdown  # noqa: PLC0415

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        link = report_link(os.environ)
        markdown = render_markdown(
            display_plan(result),
            limit=STEP_SUMMARY_CAP - len(link),
            full_plan_hint=JSON_HINT,
            kind=kind,
        )
        try:
            append_step_summary(summary, shown(markdown + link + epilogue))
        except OSError as error:
            raise PgsyncError(f"cannot write the GitHub step summary: {error.strerror}") from None
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        path = out or str(Path(os.environ.get("RUNNER_TEMP") or ".") / "pgsync-plan.json")
        if not out:
            write_file(path, as_json)
        try:
            # Absolute: later steps may run in another working directory.
            write_outputs(outputs, plan_outputs(result, os.path.abspath(path)))
        except OSError as error:
            raise PgsyncError(f"cannot write GitHub step outputs: {error.strerror}") from None
        except ValueError as error:
            raise PgsyncError(f"cannot write GitHub step outputs: {error}") from None
