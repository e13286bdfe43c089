"""The installs that CI runs, run for real: the pgsync they install is this one.

The composite action's install step runs from the files of this commit (`git archive HEAD`,
as a checkout of `uses: pgsync/pgsync@REF` holds them); the GitLab job's install (the README's
shell recipe is the same requirement) from that commit's archive as GitHub serves it at a tag,
here by a file:// URL. Each installs into a virtualenv of its own that sees the test
environment's packages (`--system-site-packages`, without a pip of its own): the dependencies
and pip are then there already, and the only install is the one the recipe names, built from
the checkout. Whether the virtualenv then runs that copy, and not the test environment's own
pgsync, is checked, not assumed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pgsync import __version__

ROOT = Path(__file__).parent.parent
ARCHIVES = "https://github.com/pgsync/pgsync/archive/refs/tags/"
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "name"
]


@dataclass(frozen=True)
class Installed:
    """The checkout installed from, the virtualenv installed into, its python and its pgsync."""

    checkout: Path
    venv: Path
    python: Path
    pgsync: Path

    def run(self, *argv: str | Path) -> str:
        result = subprocess.run(
            [str(a) for a in argv], env=environment(), capture_output=True, text=True, check=False
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


def environment(**extra: str) -> dict[str, str]:
    # PYTHONPATH would put another pgsync in front of the installed one.
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **extra}


def executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def by_the_action(work: Path, checkout: Path) -> Installed:
    # setup-python's interpreter, as `PGSYNC_BASE_PYTHON -m venv DIR` calls it.
    base_python = executable(
        work / "base-python",
        f'#!/bin/sh\nexec "{sys.executable}" "$@" --system-site-packages --without-pip\n',
    )
    outputs = work / "github_output"
    env = environment(
        PGSYNC_BASE_PYTHON=str(base_python),
        GITHUB_ACTION_PATH=str(checkout),
        GITHUB_OUTPUT=str(outputs),
        RUNNER_TEMP=str(work),
        RUNNER_OS="Linux",
    )
    run_bash(install_step_script(checkout / "action.yml"), work, env)
    given = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())
    return Installed(checkout, work / "pgsync-venv", Path(given["python"]), Path(given["pgsync"]))


def by_the_gitlab_job(work: Path, checkout: Path) -> Installed:
    tags = work / "tags"
    tags.mkdir()
    # GitHub's archive of tag vX.Y.Z: the tree under pgsync-X.Y.Z/.
    with tarfile.open(tags / f"v{__version__}.tar.gz", "w:gz") as tar:
        tar.add(checkout, arcname=f"pgsync-{__version__}")
    job = yaml.safe_load((checkout / "examples" / "gitlab" / ".gitlab-ci.yml").read_text("utf-8"))
    [install] = job["default"]["before_script"]
    local = install.replace(ARCHIVES, f"file://{tags}/")
    assert local != install
    venv = work / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    executable(venv / "bin" / "pip", f'#!/bin/sh\nexec "{venv}/bin/python" -m pip "$@"\n')
    env = environment(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        PGSYNC_VERSION=str(job["variables"]["PGSYNC_VERSION"]),
    )
    run_bash(local, work, env)
    return Installed(checkout, venv, venv / "bin" / "python", venv / "bin" / "pgsync")


@pytest.fixture(scope="module", params=[by_the_action, by_the_gitlab_job], ids=["action", "gitlab"])
def installed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    work = tmp_path_factory.mktemp("install")
    install: Callable[[Path, Path], Installed] = request.param
    return install(work, checkout_of_head(work / "pgsync"))


def test_the_installed_command_is_this_pgsync(installed: Installed) -> None:
    assert installed.pgsync.parent == installed.venv / "bin"
    assert installed.run(installed.pgsync, "--version") == f"pgsync, version {__version__}\n"


def test_the_installed_distribution_is_ours_in_its_own_virtualenv(
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


def test_the_installed_copy_ships_its_type_marker(installed: Installed) -> None:
    imported = installed.run(installed.python, "-c", "import pgsync; print(pgsync.__file__)")
    assert (Path(imported.strip()).parent / "py.typed").is_file()
