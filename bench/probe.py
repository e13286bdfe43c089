"""One CPU measurement in a process of its own, so that no run inherits another's heap or caches.

    python bench/probe.py load FILE           pgsync.load.desired.load_desired([FILE]), as the
                                              commands call it (keep=True)
    python bench/probe.py plan FILE VARIANT   make_plan without the safety rules against a
                                              synthetic live state (VARIANT: `same` as the
                                              file, or `half` of every group's stacks different)
    python bench/probe.py scaling FILE        the C parse with the GC off (as parse_yaml.py),
                                              load and the `half` plan, best of 3 each

Prints one JSON object: the seconds of the measured step(s) and the seconds the cyclic garbage
collector ran during them (see gcclock.py). The file is read before the clock starts.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orgs
import yaml
from gcclock import GcClock, timed

from pgsync.core.gcpause import gc_paused
from pgsync.core.model import DesiredState, LiveState
from pgsync.core.planning import make_plan
from pgsync.load.desired import load_desired

REPEATS = 3


def live_state(desired: DesiredState, variant: str) -> LiveState:
    live = orgs.live_with_half_changed(desired)
    if variant == "half":
        return live
    same = {
        g.name: dataclasses.replace(live.groups[g.name], stacks=g.stacks or frozenset())
        for g in desired.groups
    }
    return dataclasses.replace(live, groups=same)


def offline_plan(desired: DesiredState, live: LiveState) -> Callable[[], object]:
    """The plan as `pgsync plan` makes it (pgsync.core.planning.make_plan, the GC paused and
    the plan frozen out of its sight),
    without the safety rules' findings: the diff and the requests alone, as this probe has
    always timed them."""

    def step() -> object:
        with gc_paused(keep=True):
            return make_plan(desired, live, safety=False)

    return step


def c_parse(text: str) -> Callable[[], object]:
    """The floor, as parse_yaml.py measures it: the C loader with the collector off."""

    def step() -> object:
        with gc_paused():
            return yaml.load(text, Loader=yaml.CSafeLoader)

    return step


def best(step: Callable[[], object], clock: GcClock) -> dict[str, float]:
    """The fastest of REPEATS runs, each after a full collection so that all start alike."""
    runs = []
    for _ in range(REPEATS):
        gc.collect()
        runs.append(timed(step, clock))
    return min(runs, key=lambda run: run["seconds"])


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    op, file, *rest = argv
    text = Path(file).read_text(encoding="utf-8")
    clock = GcClock()
    result: dict[str, Any]
    if op == "load":
        result = timed(lambda: load_desired([file], keep=True), clock)
    elif op == "plan":
        desired = load_desired([file], keep=True)
        live = live_state(desired, rest[0])
        # As `pgsync plan` does once it has read the org (cli/workflow.read_live).
        gc.freeze()
        result = timed(offline_plan(desired, live), clock)
    elif op == "scaling":
        # In this order: a desired state kept alive would slow the others' collections.
        result = {
            "parse": best(c_parse(text), clock),
            "load": best(lambda: load_desired([file], keep=True), clock),
        }
        desired = load_desired([file], keep=True)
        live = live_state(desired, "half")
        gc.freeze()
        result["plan"] = best(offline_plan(desired, live), clock)
    else:
        raise SystemExit(f"unknown operation {op!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
