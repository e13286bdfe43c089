"""The benchmark runner works end to end: a smoke run, never a timing test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pgsync

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = (
    "reads-P8",
    "reads-P16",
    "rate-limit --max-rps",
    "rate-limit no --max-rps",
    "writes",
    "cpu validate (CLI)",
    "cpu load_desired",
    "cpu offline plan, nothing changed",
    "cpu offline plan, half the stacks changed",
    "scaling validate + plan",
    "scaling slope",
    "peak memory (RSS)",
)


def test_quick_run_writes_every_scenario_and_the_chart(tmp_path: Path) -> None:
    env = dict(os.environ)
    # The runner's processes must import the same pgsync as this test does.
    source = str(Path(pgsync.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr

    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    names = [row["scenario"] for row in results["rows"]]
    for scenario in SCENARIOS:
        assert any(name.startswith(scenario) for name in names), scenario
    assert results["mode"] == "quick"
    # The smoke run's sizes are not the issue's: no target is judged on them.
    assert all(row["met"] is None for row in results["rows"])
    writes = [row for row in results["rows"] if row["scenario"].startswith("writes")]
    assert writes and all("per-change" in row["baselines"] for row in writes)
    assert (tmp_path / "table.md").read_text(encoding="utf-8").startswith("| scenario |")
    assert (tmp_path / "scaling.png").read_bytes().startswith(b"\x89PNG")
