"""The benchmark runner works end to end: a smoke run, never a timing test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pgsync

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = (
    "reads-P8",
    "reads-P16",
    "sequential client",
    "plan, many stacks",
    "plan, no latency",
    "rate-limit --max-rps",
    "rate-limit no --max-rps",
    "writes",
    "apply, ",
    "client CPU per GET",
    "client CPU per GET, 16 threads",
    "start-up: pgsync --version",
    "start-up: validate (small file)",
    "cpu validate (CLI)",
    "cpu load_desired",
    "cpu offline plan, nothing changed",
    "cpu offline plan, half the stacks changed",
    "scaling validate + plan",
    "scaling slope",
    "peak memory (RSS)",
    "requests and writes = minimal",
)
# The rows of the issue's targets table, each with the bound or baseline its target names.
TARGETS = {
    "plan, many stacks": "RTT bound",
    "plan, no latency": "keep-alive http.client",
    "client CPU per GET": "keep-alive http.client",
    "apply, ": "RTT bound",
    "start-up: pgsync --version": "python -c pass",
    "start-up: validate (small file)": "python -c pass",
    "cpu validate (CLI)": "C parse, GC off",
    "requests and writes = minimal": "minimal",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    # The runner's processes must import the same pgsync as this test does.
    source = str(Path(pgsync.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        # A guard against a hang on a loaded machine, not a limit on the bench's speed.
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def results(quick: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((quick / "results.json").read_text(encoding="utf-8"))
    return found


def rows(results: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return [row for row in results["rows"] if row["scenario"].startswith(scenario)]


def test_quick_run_writes_every_scenario(results: dict[str, Any]) -> None:
    assert results["mode"] == "quick"
    for scenario in SCENARIOS:
        assert rows(results, scenario), scenario


def test_quick_run_judges_no_target(results: dict[str, Any]) -> None:
    # The smoke run's sizes are not the issue's: no target is judged on them.
    assert all(row["met"] is None for row in results["rows"])


def test_every_target_row_has_its_reference_and_a_ratio(results: dict[str, Any]) -> None:
    for scenario, reference in TARGETS.items():
        for row in rows(results, scenario):
            assert row["reference"] == reference, scenario
            assert row["ratio"] is not None and row["target"], scenario


def test_client_cpu_is_measured_with_one_thread_and_with_the_issues_sixteen(
    results: dict[str, Any],
) -> None:
    measured = rows(results, "client CPU per GET")
    assert [row["details"]["threads"] for row in measured] == [1, 16]


def test_plan_rows_at_the_issues_parallelism_have_the_keep_alive_baseline(
    results: dict[str, Any],
) -> None:
    largest = max(row["n"] for row in rows(results, "reads-P16"))
    reads = [row for row in rows(results, "reads-P16") if row["n"] == largest]
    for row in [*reads, *rows(results, "plan, many stacks"), *rows(results, "plan, no latency")]:
        assert row["baselines"]["keep-alive"]["requests"] > 0, row["scenario"]


def test_write_rows_have_the_per_change_baseline(results: dict[str, Any]) -> None:
    writes = rows(results, "writes")
    assert writes and all("per-change" in row["baselines"] for row in writes)


def test_read_and_write_rows_show_requests_against_the_minimum(results: dict[str, Any]) -> None:
    for scenario in ("reads-P", "plan, many stacks", "plan, no latency", "writes", "apply, "):
        for row in rows(results, scenario):
            assert row["requests"] and row["minimal"], row["scenario"]


def test_table_and_chart_are_written(quick: Path, results: dict[str, Any]) -> None:
    table = (quick / "table.md").read_text(encoding="utf-8")
    assert table.startswith("| scenario |")
    assert table.count("\n") == 2 + len(results["rows"])
    assert (quick / "scaling.png").read_bytes().startswith(b"\x89PNG")
