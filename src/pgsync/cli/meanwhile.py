"""What a command needs once its reads are answered, imported while they are on the wire.

Reads spend most of their time waiting for the network; creating the planner's and the
renderers' classes (some 30-40 ms of CPU) then costs no wall time. An import the command
makes itself waits for one under way here, as Python imports do across threads. The thread
is a daemon: a command that ends first (on an error) does not wait for it, and nothing is
imported while the interpreter shuts down.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence

PLANNER = (
    "pgsync.core.planning",
    "pgsync.render.display",
    "pgsync.render.text",
    "pgsync.render.markdown",
)
"""What every command that plans uses after its reads."""
APPLIER = (*PLANNER, "pgsync.apply.runner")
"""What `apply` uses after its reads."""


def import_meanwhile(modules: Sequence[str]) -> None:
    """Start importing `modules` on a thread of their own, and return at once."""
    threading.Thread(
        target=_import_all, args=(tuple(modules),), name="pgsync-imports", daemon=True
    ).start()


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            # Left to the command's own import of it, which raises where errors are reported.
            return
