"""The planner is imported while the reads wait, not before the first request."""

from __future__ import annotations

import subprocess
import sys

from pgsync.cli.meanwhile import APPLIER

AFTER_READS = ("pgsync.core.plan", "pgsync.core.planning", "pgsync.render", "pgsync.apply.runner")


def _modules_after(code: str) -> set[str]:
    """The pgsync modules imported once `code` has run in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
    return {name for name in result.stdout.split("\n") if name.startswith("pgsync")}


def test_the_plan_and_apply_commands_import_no_planner_before_their_reads() -> None:
    modules = _modules_after("import pgsync.cli.plan, pgsync.cli.apply, pgsync.remote.api")
    assert {m for m in modules if m.startswith(AFTER_READS)} == set()


def test_what_is_imported_meanwhile_is_there_once_its_thread_ends() -> None:
    code = (
        "import threading\n"
        "from pgsync.cli.meanwhile import APPLIER, import_meanwhile\n"
        "import_meanwhile(APPLIER)\n"
        "[t.join() for t in threading.enumerate() if t.name == 'pgsync-imports']"
    )
    assert set(APPLIER) <= _modules_after(code)


def test_a_module_that_fails_to_import_is_left_to_the_command() -> None:
    code = (
        "import threading\n"
        "from pgsync.cli.meanwhile import import_meanwhile\n"
        "import_meanwhile(['pgsync.no_such_module'])\n"
        "[t.join() for t in threading.enumerate() if t.name == 'pgsync-imports']"
    )
    assert "pgsync.no_such_module" not in _modules_after(code)
