"""The Python API: `pgsync.__all__`, the objects the CLI uses, loaded only when first read.

The example script (examples/plan_and_apply.py) runs as its docstring says: from the
checkout's root, with no arguments, against the emulator named by PULUMI_BACKEND_URL.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import pgsync
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "plan_and_apply.py"
README = (ROOT / "README.md").read_text(encoding="utf-8")
[README_SECTION] = re.findall(r"\n## Python API\n(.*?)\n## ", README, re.S)
# What the start-up of `pgsync --version` does without (tests/test_startup.py), and so must
# `import pgsync`.
HEAVY = ("httpx", "httpcore", "jsonschema", "deepdiff", "pgsync.emulator")

# The public API, each name with the module that defines it.
HOMES = {
    "AmbiguousWrite": "pgsync.apply.events",
    "AmbiguousWriteError": "pgsync.core.errors",
    "ApiError": "pgsync.core.errors",
    "ApplyEvent": "pgsync.apply.events",
    "ApplyFailed": "pgsync.core.errors",
    "ApplyFinished": "pgsync.apply.events",
    "ApplyObserver": "pgsync.apply.events",
    "ApplyReport": "pgsync.apply.events",
    "AuthError": "pgsync.core.errors",
    "BadResponse": "pgsync.core.errors",
    "ChangesPending": "pgsync.core.errors",
    "Client": "pgsync.remote.client",
    "DesiredState": "pgsync.core.model",
    "EmulatorServer": "pgsync.emulator.server",
    "FeatureUnavailable": "pgsync.core.errors",
    "Finding": "pgsync.core.plan",
    "GroupConfirmed": "pgsync.apply.events",
    "GroupFailed": "pgsync.apply.events",
    "GroupPlan": "pgsync.core.plan",
    "GroupSkipped": "pgsync.apply.events",
    "GroupStarted": "pgsync.apply.events",
    "InputError": "pgsync.core.errors",
    "LiveState": "pgsync.core.model",
    "Location": "pgsync.core.errors",
    "Outcome": "pgsync.apply.events",
    "PgsyncError": "pgsync.core.errors",
    "Plan": "pgsync.core.plan",
    "PolicyGroupsApi": "pgsync.remote.api",
    "Problem": "pgsync.core.errors",
    "Refused": "pgsync.core.errors",
    "SafetyBlocked": "pgsync.core.errors",
    "StalePlan": "pgsync.core.errors",
    "TransportError": "pgsync.core.errors",
    "ValidationFailed": "pgsync.core.errors",
    "WriteNotVerified": "pgsync.core.errors",
    "apply_plan": "pgsync.apply.runner",
    "demo_fixture": "pgsync.emulator.fixture",
    "display_plan": "pgsync.render.display",
    "load_desired": "pgsync.load.desired",
    "make_plan": "pgsync.core.planning",
    "render_json": "pgsync.render.text",
    "render_markdown": "pgsync.render.markdown",
    "render_text": "pgsync.render.text",
}
# What the CLI's commands do through the API's names, not names of their own.
USED_BY_THE_CLI = {
    "GroupConfirmed",
    "SafetyBlocked",
    "apply_plan",
    "display_plan",
    "load_desired",
    "make_plan",
    "render_json",
    "render_markdown",
    "render_text",
}


def cli_modules() -> list[ModuleType]:
    package = Path(importlib.import_module("pgsync.cli").__path__[0])
    return [importlib.import_module(f"pgsync.cli.{p.stem}") for p in sorted(package.glob("*.py"))]


def heavy(modules: set[str]) -> set[str]:
    """Which of HEAVY `modules` holds (a package counts when any of its modules is there)."""
    return {h for h in HEAVY for m in modules if m == h or m.startswith(f"{h}.")}


def printed_by(code: str) -> list[str]:
    """The lines a fresh interpreter prints when it runs `code`."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


def imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter has imported once it has run `code`."""
    return set(printed_by(f"{code}\nimport sys\nprint(*sys.modules, sep='\\n')"))


def test_all_is_sorted() -> None:
    assert pgsync.__all__ == sorted(pgsync.__all__)


def test_all_names_the_whole_public_api() -> None:
    assert set(pgsync.__all__) == set(HOMES)


@pytest.mark.parametrize("name", sorted(HOMES))
def test_a_public_name_is_the_object_its_module_defines(name: str) -> None:
    assert getattr(pgsync, name) is getattr(importlib.import_module(HOMES[name]), name)


def imported_names(module: ModuleType) -> dict[str, object]:
    """Every name `module` imports from pgsync, at its top or within a function, bound to
    what it names."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: getattr(importlib.import_module(node.module), alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pgsync")
        for alias in node.names
    }


def test_the_cli_uses_the_objects_of_the_public_api() -> None:
    used = set()
    for module in cli_modules():
        names = imported_names(module)
        for name in pgsync.__all__:
            if name in names:
                assert names[name] is getattr(pgsync, name), f"{module.__name__}.{name}"
                used.add(name)
    assert used >= USED_BY_THE_CLI


def test_a_star_import_binds_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from pgsync import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(pgsync.__all__)


def test_dir_lists_the_public_names_before_they_are_loaded() -> None:
    listed = printed_by("import pgsync\nprint(*dir(pgsync), sep='\\n')")
    assert set(pgsync.__all__) <= set(listed)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'pgsync' has no attribute 'plan_it'"):
        _ = pgsync.plan_it


def test_import_pgsync_imports_no_heavy_module() -> None:
    assert heavy(imported_by("import pgsync")) == set()


def test_the_version_and_the_names_are_read_without_importing_a_heavy_module() -> None:
    read = "import pgsync\npgsync.__version__, pgsync.__all__, dir(pgsync)"
    assert heavy(imported_by(read)) == set()


def test_the_package_is_marked_as_typed() -> None:
    marker = ROOT / "src" / "pgsync" / "py.typed"
    assert marker.is_file()
    assert marker.read_bytes() == b""


def run_example(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The example as its docstring runs it: from the checkout's root, with no arguments."""
    return subprocess.run(
        [sys.executable, str(EXAMPLE.relative_to(ROOT))],
        cwd=ROOT,
        env={**os.environ, "PULUMI_BACKEND_URL": url, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def cli_plan(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What `pgsync plan examples/policygroups.yaml` prints (without colour)."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        cli, ["plan", "examples/policygroups.yaml", "--api-url", url, "--no-color"]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_example_prints_the_plan_that_pgsync_plan_prints(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = cli_plan(server.url, monkeypatch)
    result = run_example(server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected)


def test_the_example_applies_the_plan_and_prints_the_report(server: EmulatorServer) -> None:
    result = run_example(server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-7:] == [
        "  ✓ rename 'production'",
        "  ✓ create 'Production Audit'",
        "  ✓ create 'cloud-accounts'",
        "  ✓ create 'staging'",
        "  ✓ update 'default-policy-group'",
        "  ✓ delete 'sandbox'",
        "Apply complete: 6 groups changed with 10 write requests, all verified.",
    ]


def test_a_second_run_of_the_example_has_nothing_to_change(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_example(server.url).returncode == 0
    second = run_example(server.url)
    assert second.returncode == 0, second.stderr
    assert second.stdout == cli_plan(server.url, monkeypatch)
    assert "No changes." in second.stdout


def test_the_example_reports_an_error_on_one_line_with_its_exit_code() -> None:
    # Refused before any request is sent: no network is needed to see how errors end.
    result = run_example("http://pulumi.example", PULUMI_ACCESS_TOKEN="pul-0123456789abcdef")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: refusing to send the access token over plain HTTP to http://pulumi.example;"
        " use https://\n"
    )


@pytest.mark.parametrize("name", sorted(HOMES))
def test_the_readme_names_every_public_name(name: str) -> None:
    assert f"`{name}`" in README_SECTION or f"`{name}(" in README_SECTION


def test_the_readme_example_runs_against_the_emulator(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", README_SECTION, re.S)
    plan = cli_plan(server.url, monkeypatch)
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=ROOT,
        env={**os.environ, "PULUMI_BACKEND_URL": server.url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{plan}6 groups changed with 10 write requests\n"
