"""The command line: the only place that prints, reads the environment and picks exit codes.

Each command's module is imported when the command runs or shows its help, not before:
`pgsync --version` and `pgsync --help` import click and this module only.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import click

from pgsync import __version__

# Each command: where it is ("module:attribute"), and its summary for `pgsync --help`, which
# tests/test_startup.py checks is the first sentence of the command's own help.
COMMANDS = {
    "apply": (
        "pgsync.cli.apply:apply",
        "Make the live policy groups match the files, then verify by reading them back.",
    ),
    "demo": (
        "pgsync.cli.emulator:demo",
        "Run validate, plan, apply and a second plan against an in-process emulator.",
    ),
    "drift": (
        "pgsync.cli.drift:drift",
        "For scheduled jobs: exit 0 in sync, 2 on drift, 1 on error.",
    ),
    "emulator": (
        "pgsync.cli.emulator:emulator",
        "Serve the built-in Policy Groups API emulator until Ctrl-C.",
    ),
    "expand": (
        "pgsync.cli.expand:expand",
        "Print the expanded desired state of all PATHS as one plain YAML file (offline).",
    ),
    "import": (
        "pgsync.cli.importing:import_command",
        "Write every live policy group of an organization as a desired-state file.",
    ),
    "plan": (
        "pgsync.cli.plan:plan",
        "Show what apply would change: reads live state, writes nothing.",
    ),
    "report": (
        "pgsync.cli.report:report",
        "Report the org's policy coverage, live and as the files would make it.",
    ),
    "schema": (
        "pgsync.cli.validate:schema",
        "Print the desired-state JSON Schema (for editors and other tools).",
    ),
    "validate": (
        "pgsync.cli.validate:validate",
        "Check desired-state files: schema, semantics, and with --live the org's contents.",
    ),
}


class _Commands(MutableMapping[str, click.Command]):
    """The commands by name, each imported from its module the first time it is looked up."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self._entries: dict[str, click.Command | str] = dict(where)

    def __getitem__(self, name: str) -> click.Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attribute)
        return entry

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class _Group(click.Group):
    """Commands loaded when used; no arguments print the help and exit 0; usage errors exit 1,
    not click's 2: in the contract 2 means "changes pending" (§3)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Asking for nothing is asking what there is (click 8.2 and later call it an error).
        if not args and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands with their summaries from COMMANDS, as click lists them, none imported."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, standalone_mode=False, **extra)
        try:
            code = super().main(args, standalone_mode=False, **extra)
            # A failure to write what was printed shows here (cli/entry reports it), not in the
            # interpreter's exit.
            sys.stdout.flush()
        except click.ClickException as error:
            error.show()
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    cls=_Group,
    commands=_Commands({name: where for name, (where, _) in COMMANDS.items()}),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="pgsync")
def cli() -> None:
    """Manage Pulumi Cloud Policy Groups as code.

    Declare groups in YAML, check them with `validate`, review the changes with `plan`,
    carry them out with `apply`. The access token comes only from PULUMI_ACCESS_TOKEN.
    Try `pgsync demo` for the whole loop against the built-in emulator.

    Exit codes: 0 success (no changes), 1 error, 2 changes pending (--detailed-exitcode,
    drift), 3 a change is blocked by a safety rule (plan, apply; apply then writes nothing).
    """


def main() -> None:
    """`cli` for the console script (cli/entry), then an exit that collects nothing."""
    # Everything alive now dies with the process: moved out of the collector's sight, the
    # interpreter's last collection at shutdown (some 50 ms after a plan) has nothing to do.
    atexit.register(gc.freeze)
    cli(prog_name="pgsync")
