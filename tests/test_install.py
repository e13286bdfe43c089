"""The composite action's install step, run for real: the pgsync it installs is this one.

The action is what a workflow's `uses: pgsync/pgsync@REF` checks out, so the step runs from
the files of this commit (`git archive HEAD`, as a checkout of it holds them) into a virtualenv
of its own. That virtualenv sees the test environment's packages (`--system-site-packages`,
without a pip of its own): the dependencies and pip are then there already, and the step's
only install is the one it names, built from the checkout. Whether the command then runs
that copy, and not the test environment's own pgsync, is checked, not assumed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pgsync import __version__

ROOT = Path(__file__).parent.parent
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "name"
]


@dataclass(frozen=True)
class Installed:
    """The checkout installed from, the step's virtualenv, and the paths of its step outputs."""

    checkout: Path
    venv: Path
    python: Path
    pgsync: Path

    def run(self, *argv: str | Path) -> str:
        # PYTHONPATH would put another pgsync in front of the installed one.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run(
            [str(a) for a in argv], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


def checkout_of_head(destination: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def install_step_script(action: Path) -> str:
    steps = yaml.safe_load(action.read_text(encoding="utf-8"))["runs"]["steps"]
    [step] = [step for step in steps if step.get("id") == "install"]
    script: str = step["run"]
    return script


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("action")
    action_path = checkout_of_head(work / "pgsync")
    # setup-python's interpreter, as `PGSYNC_BASE_PYTHON -m venv DIR` calls it.
    base_python = work / "base-python"
    base_python.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "$@" --system-site-packages --without-pip\n',
        encoding="utf-8",
    )
    base_python.chmod(0o755)
    script = work / "install.sh"
    script.write_text(install_step_script(action_path / "action.yml"), encoding="utf-8")
    outputs = work / "github_output"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "PGSYNC_BASE_PYTHON": str(base_python),
        "GITHUB_ACTION_PATH": str(action_path),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(work),
        "RUNNER_OS": "Linux",
    }
    result = subprocess.run(
        ["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    given = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())
    venv = work / "pgsync-venv"
    return Installed(action_path, venv, Path(given["python"]), Path(given["pgsync"]))


def test_the_installed_command_is_this_pgsync(installed: Installed) -> None:
    assert installed.pgsync.parent == installed.venv / "bin"
    assert installed.run(installed.pgsync, "--version") == f"pgsync, version {__version__}\n"


def test_the_installed_distribution_is_ours_in_the_actions_virtualenv(
    installed: Installed,
) -> None:
    # What `pip show` reads, without pip's start-up: the first distribution of that name on
    # the virtualenv's path.
    shown = installed.run(
        installed.python,
        "-c",
        "import sys; from importlib.metadata import distribution as d; x = d(sys.argv[1]);"
        " print(x.name, x.version, x.locate_file(''), sep='\\n')",
        DISTRIBUTION,
    )
    name, version, location = shown.splitlines()
    assert (name, version) == (DISTRIBUTION, __version__)
    assert Path(location).is_relative_to(installed.venv)


def test_the_virtualenv_imports_its_own_copy_of_pgsync(installed: Installed) -> None:
    imported = installed.run(installed.python, "-c", "import pgsync; print(pgsync.__file__)")
    assert Path(imported.strip()).is_relative_to(installed.venv)


def test_the_installed_copy_ships_the_schema(installed: Installed) -> None:
    packaged = installed.checkout / "src" / "pgsync" / "schemas" / "policygroups.schema.json"
    assert installed.run(installed.pgsync, "schema") == packaged.read_text(encoding="utf-8")
