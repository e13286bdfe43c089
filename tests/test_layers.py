"""The folders are the architecture: each layer imports only the layers beneath it.

    core      imports nothing of pgsync but core
    render    core
    load      core, files
    remote    core
    apply     core, render, files
    files     core            (the one home of file I/O: bounded reads, atomic writes)
    cli       anything        (the only layer that knows the terminal)
    emulator  core, load,     (its fixture files are YAML read with positions, like desired
              files           state; its state file is written whole, like pgsync's outputs);
                              never remote, apply or render: it fakes the service, not pgsync

Imports inside `if TYPE_CHECKING:` count too: a type annotation is a dependency as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "pgsync"
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "render": frozenset({"core", "render"}),
    "load": frozenset({"core", "load", "files"}),
    "remote": frozenset({"core", "remote"}),
    "apply": frozenset({"core", "render", "apply", "files"}),
    "files": frozenset({"core"}),
    "emulator": frozenset({"emulator", "core", "load", "files"}),
}
TERMINAL = frozenset({"click"})
"""Modules whose import means a module talks to the terminal."""


def layer_of(relative: Path) -> str:
    """`core` for core/plan.py, `files` for files.py (paths relative to src/pgsync)."""
    return relative.parts[0].removesuffix(".py")


def modules() -> list[Path]:
    return sorted(path.relative_to(PACKAGE) for path in PACKAGE.rglob("*.py"))


def imported(relative: Path, text: str) -> Iterator[tuple[int, str]]:
    """Every module the source `text` of `relative` imports, absolute, with its line."""
    package = ".".join(("pgsync", *relative.parent.parts))
    for node in ast.walk(ast.parse(text, str(relative))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            if not node.level:
                name = node.module or ""
            else:
                name = f"{base}.{node.module}" if node.module else base
            yield node.lineno, name
            if name == "pgsync":
                for alias in node.names:
                    yield node.lineno, f"pgsync.{alias.name}"


def pgsync_layer(module: str) -> str | None:
    """The layer a `pgsync.…` module belongs to; None for pgsync itself and others' modules."""
    parts = module.split(".")
    if parts[0] != "pgsync" or len(parts) < 2 or parts[1].startswith("__"):
        return None
    return parts[1]


def crossings(relative: Path, text: str) -> list[str]:
    """Each import in `text` that the layer of `relative` may not make."""
    layer = layer_of(relative)
    allowed = ALLOWED.get(layer)
    found = []
    for line, module in imported(relative, text):
        target = pgsync_layer(module)
        beneath = allowed is None or target is None or target in allowed
        terminal = layer != "cli" and module.split(".")[0] in TERMINAL
        if not beneath or terminal:
            found.append(f"{relative}:{line}: {layer} imports {module}")
    return found


@pytest.mark.parametrize("relative", modules(), ids=str)
def test_module_imports_only_the_layers_beneath_it(relative: Path) -> None:
    assert crossings(relative, (PACKAGE / relative).read_text(encoding="utf-8")) == []


def test_every_module_is_in_a_layer() -> None:
    loose = {layer_of(m) for m in modules() if len(m.parts) == 1 and not m.name.startswith("__")}
    assert loose <= set(ALLOWED)


def test_a_core_module_that_imports_an_edge_or_the_terminal_is_caught() -> None:
    text = "from pgsync.remote.client import Client\nimport click\nfrom . import plan\n"
    assert crossings(Path("core/model.py"), text) == [
        "core/model.py:1: core imports pgsync.remote.client",
        "core/model.py:2: core imports click",
    ]


def test_a_relative_import_counts_as_the_module_it_names() -> None:
    assert crossings(Path("render/text.py"), "from ..apply import journal\n") == [
        "render/text.py:1: render imports pgsync.apply",
    ]
