"""Timing one step, and how much of it the cyclic garbage collector took.

A full collection walks every live object, so with a big heap it is where time goes that no
profile of the code itself shows. Standard library only: parse_yaml.py imports it too.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any


class GcClock:
    """Sums the time spent in garbage collections, through gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def timed(step: Callable[[], object], clock: GcClock) -> dict[str, float]:
    """The seconds `step` took, and the seconds of garbage collection within them."""
    gc_before = clock.seconds
    started = time.perf_counter()
    step()
    return {"seconds": time.perf_counter() - started, "gc_seconds": clock.seconds - gc_before}
