"""The benchmark's results: rows, the Markdown table, results.json and the scaling chart."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

# No display on a CI runner or a server: render straight to PNG.
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

SEQUENTIAL = "sequential"
PER_CHANGE = "per-change"


@dataclass(frozen=True, slots=True)
class Baseline:
    """A baseline client's run of the same scenario, against the same emulator settings."""

    wall_s: float
    requests: int


@dataclass(slots=True)
class Row:
    """One line of the table. `bound_s` is the lower bound, or for CPU rows the reference
    (the parse time) the target is a multiple of; `met` is None where no target applies."""

    scenario: str
    n: int
    wall_s: float | None
    bound_s: float | None = None
    requests: int | None = None
    minimal: int | None = None
    target: str = ""
    met: bool | None = None
    notes: str = ""
    baselines: dict[str, Baseline] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.wall_s is None or not self.bound_s:
            return None
        return self.wall_s / self.bound_s

    def speedup(self, name: str) -> float | None:
        baseline = self.baselines.get(name)
        if baseline is None or not self.wall_s:
            return None
        return baseline.wall_s / self.wall_s

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        for name in self.baselines:
            data["baselines"][name]["speedup"] = self.speedup(name)
            if self.requests:
                data["baselines"][name]["request_ratio"] = (
                    self.baselines[name].requests / self.requests
                )
        return data


HEADER = (
    "scenario",
    "N",
    "requests sent",
    "minimal",
    "wall (s)",
    "lower bound (s)",
    "ratio",
    "speed-up vs sequential client",
    "speed-up vs PATCH per change",
    "target",
    "met",
    "notes",
)


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _versus(row: Row, name: str) -> str:
    """The speed-up (below 1: pgsync was slower) and the baseline's own time and requests."""
    speedup = row.speedup(name)
    baseline = row.baselines.get(name)
    if speedup is None or baseline is None:
        return "—"
    shown = f"{speedup:.1f}" if speedup >= 1 else f"{speedup:.2f}"
    return f"{shown}× ({_seconds(baseline.wall_s)} s, {baseline.requests:,} req)"


def cells(row: Row) -> list[str]:
    ratio = row.ratio
    met = {None: "—", True: "yes", False: "**no**"}[row.met]
    return [
        row.scenario,
        f"{row.n:,}",
        _count(row.requests),
        _count(row.minimal),
        _seconds(row.wall_s),
        _seconds(row.bound_s),
        "—" if ratio is None else f"{ratio:.2f}×",
        _versus(row, SEQUENTIAL),
        _versus(row, PER_CHANGE),
        row.target or "—",
        met,
        row.notes,
    ]


def markdown_line(values: Iterable[str]) -> str:
    return "| " + " | ".join(values) + " |"


def table_head() -> list[str]:
    return [markdown_line(HEADER), markdown_line("---" for _ in HEADER)]


def write_json(path: Path, meta: dict[str, Any], rows: Sequence[Row]) -> None:
    data = {**meta, "rows": [row.to_json() for row in rows]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def loglog_slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of log(t) against log(n): 1 is linear growth."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


@dataclass(frozen=True, slots=True)
class Curve:
    label: str
    points: list[tuple[float, float]]
    style: str = "o-"
    color: str | None = None


def write_chart(
    path: Path, cpu: Sequence[Curve], reads: Sequence[Curve], titles: Sequence[str]
) -> None:
    """Two log-log panels: CPU time against groups, and plan wall time against groups.

    The left panel has a dotted slope-1 line through the middle of the first curve: parallel
    to it is linear growth, steeper is worse.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    first = cpu[0].points
    middle_n, middle_t = first[len(first) // 2]
    guide = Curve("linear (slope 1)", [(n, middle_t * n / middle_n) for n, _ in first], ":", "grey")
    for axes, curves, ylabel, title in (
        (left, [*cpu, guide], "seconds (CPU, in-process)", titles[0]),
        (right, reads, "seconds (wall, whole command)", titles[1]),
    ):
        for curve in curves:
            xs, ys = zip(*curve.points, strict=True)
            axes.plot(xs, ys, curve.style, label=curve.label, color=curve.color)
        axes.set_xscale("log")
        axes.set_yscale("log")
        # Plain numbers, and ticks at the measured sizes, rather than powers of ten.
        sizes = sorted({n for curve in curves for n, _ in curve.points})
        axes.set_xticks(sizes, [f"{n:,.0f}" for n in sizes])
        axes.xaxis.set_minor_formatter(ticker.NullFormatter())
        axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(ticker.NullFormatter())
        axes.set_xlabel("policy groups")
        axes.set_ylabel(ylabel)
        axes.set_title(title, fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
