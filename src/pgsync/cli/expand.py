"""The `expand` command: the desired state with every pack set and template written out."""

from __future__ import annotations

import click

from pgsync import __version__
from pgsync.cli.console import print_problems
from pgsync.cli.options import PATHS, reports_errors
from pgsync.core.masking import DEFAULT_SECRET_KEYS
from pgsync.core.wording import counted
from pgsync.files import STDOUT


@click.command()
@PATHS
@click.option(
    "--out",
    metavar="FILE",
    help="Write the expanded file to FILE, secret values included; - is stdout.",
)
@click.version_option(__version__, prog_name="pgsync")
@reports_errors
def expand(paths: tuple[str, ...], out: str | None) -> None:
    """Print the expanded desired state of all PATHS as one plain YAML file (offline).

    Every `{use: SET}` becomes the set's packs and every `extends` the template's keys; the
    settings of several files are merged as every command merges them. The result has no
    packSets, templates, extends or use, and validates and plans exactly as the inputs do.
    PATHS must be valid (see validate). On stdout each secret config value is left as the
    placeholder `fn::secret: null`; --out FILE writes them as the files hold them.
    """
    # Loading and the YAML writer only when the command runs: its --help needs neither.
    from pgsync.load.desired import load_expanded  # noqa: PLC0415
    from pgsync.load.expansion import without_secrets  # noqa: PLC0415
    from pgsync.load.importer import SCHEMA_COMMENT, dump_yaml  # noqa: PLC0415

    state, document = load_expanded(paths)
    print_problems(state.warnings, level="warning")
    if out is not None and out != STDOUT:
        from pgsync.cli.workflow import prepare_output, write_file  # noqa: PLC0415

        prepare_output(out, "--out", state.inputs)
        write_file(out, SCHEMA_COMMENT + dump_yaml(document))
        return
    patterns = tuple(document.get("safety", {}).get("secretKeys", ())) or DEFAULT_SECRET_KEYS
    visible, hidden = without_secrets(document, patterns)
    click.echo(SCHEMA_COMMENT + dump_yaml(visible), nl=False)
    if hidden:
        click.echo(
            f"note: {counted(hidden, 'secret value')} left as fn::secret: null placeholders;"
            " --out FILE writes them",
            err=True,
        )
