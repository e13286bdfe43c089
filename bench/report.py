"""The benchmark's results: rows, the Markdown table, results.json and the chart."""

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
KEEPALIVE = "keep-alive"
PER_CHANGE = "per-change"
BASELINE_NAMES = {
    SEQUENTIAL: "sequential client",
    KEEPALIVE: "keep-alive http.client",
    PER_CHANGE: "PATCH per change",
}


@dataclass(frozen=True, slots=True)
class Baseline:
    """A baseline client's run of the same scenario, against the same emulator settings:
    its wall time (the median when it ran several times, each in `runs`)."""

    wall_s: float
    requests: int
    runs: tuple[float, ...] = ()


@dataclass(slots=True)
class Row:
    """One line of the table.

    `measured` (in `unit`) is compared with `bound`: the lower bound or the baseline the
    target is a multiple of, named by `reference`. `runs` holds every measurement behind
    `measured`, which is their `statistic` (median or best); `limit` is the target as the
    largest ratio allowed, for the chart. `met` is None where no target is judged.
    """

    scenario: str
    n: int
    measured: float | None
    bound: float | None = None
    reference: str = ""
    unit: str = "s"
    requests: int | None = None
    minimal: int | None = None
    target: str = ""
    limit: float | None = None
    met: bool | None = None
    runs: tuple[float, ...] = ()
    statistic: str = ""
    notes: str = ""
    baselines: dict[str, Baseline] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.bound:
            return None
        return self.measured / self.bound

    def speedup(self, name: str) -> float | None:
        baseline = self.baselines.get(name)
        if baseline is None or not self.measured:
            return None
        return baseline.wall_s / self.measured

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
    "measured",
    "runs (spread)",
    "bound or baseline",
    "ratio",
    "target",
    "met",
    "speed-up vs baselines (same run)",
    "notes",
)


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def value(amount: float | None, unit: str) -> str:
    """`amount` written in its unit: seconds to 3 significant places, µs and MB whole."""
    if amount is None:
        return "—"
    if unit == "s":
        return f"{_seconds(amount)} s"
    if unit in ("µs", "MB", "req"):
        return f"{amount:,.0f} {unit}"
    return f"{amount:.2f}"


def _runs(row: Row) -> str:
    if not row.runs:
        return "—"
    if len(row.runs) == 1:
        return "1 run"
    low, high = value(min(row.runs), row.unit), value(max(row.runs), row.unit)
    return f"{row.statistic} of {len(row.runs)}: {low}–{high}"


def _versus(row: Row) -> str:
    """Each baseline's speed-up (below 1: pgsync was slower), own time and requests."""
    shown = []
    for name, baseline in row.baselines.items():
        speedup = row.speedup(name)
        if speedup is None:
            continue
        factor = f"{speedup:.1f}" if speedup >= 1 else f"{speedup:.2f}"
        runs = f", median of {len(baseline.runs)}" if len(baseline.runs) > 1 else ""
        shown.append(
            f"{BASELINE_NAMES[name]} {factor}× "
            f"({_seconds(baseline.wall_s)} s, {baseline.requests:,} req{runs})"
        )
    return "; ".join(shown) or "—"


def cells(row: Row) -> list[str]:
    ratio = row.ratio
    met = {None: "—", True: "yes", False: "**no**"}[row.met]
    bound = value(row.bound, row.unit)
    return [
        row.scenario,
        f"{row.n:,}",
        _count(row.requests),
        _count(row.minimal),
        value(row.measured, row.unit),
        _runs(row),
        f"{bound} ({row.reference})" if row.bound is not None and row.reference else bound,
        "—" if ratio is None else f"{ratio:.2f}×",
        row.target or "—",
        met,
        _versus(row),
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


def _curves(axes: Any, curves: Sequence[Curve], ylabel: str, title: str) -> None:
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


def _ratios(axes: Any, rows: Sequence[Row]) -> None:
    """One bar per row with a ratio, coloured by whether its target was met, with the
    target's largest ratio as a black tick."""
    shown = [row for row in rows if row.ratio is not None]
    colors = {True: "tab:green", False: "tab:red", None: "tab:grey"}
    places = range(len(shown))
    ratios = [row.ratio or 0.0 for row in shown]
    axes.barh(places, ratios, color=[colors[row.met] for row in shown], height=0.6)
    for place, row in zip(places, shown, strict=True):
        if row.limit is not None:
            axes.plot([row.limit] * 2, [place - 0.4, place + 0.4], color="black", linewidth=2)
    axes.axvline(1, color="grey", linestyle=":", linewidth=1)
    axes.set_yticks(list(places), [f"{row.scenario}, N={row.n:,}" for row in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}×"))
    axes.set_xlabel(
        "measured / bound or baseline (black tick: the target; green met, red missed, "
        "grey not judged)"
    )
    axes.set_title("every row: ratio to its bound or baseline", fontsize=10)
    axes.grid(True, which="both", axis="x", alpha=0.3)


def write_chart(
    path: Path,
    cpu: Sequence[Curve],
    reads: Sequence[Curve],
    rows: Sequence[Row],
    titles: Sequence[str],
) -> None:
    """Top: CPU time against groups, and plan wall time against groups (log-log). Bottom:
    every row's ratio to its bound or baseline.

    The CPU panel has a dotted slope-1 line through the middle of the first curve: parallel
    to it is linear growth, steeper is worse.
    """
    shown = sum(1 for row in rows if row.ratio is not None)
    figure = plt.figure(figsize=(12, 4.8 + 0.28 * shown + 1))
    grid = figure.add_gridspec(2, 2, height_ratios=(4.8, 0.28 * shown + 1))
    left, right = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    first = cpu[0].points
    middle_n, middle_t = first[len(first) // 2]
    guide = Curve("linear (slope 1)", [(n, middle_t * n / middle_n) for n, _ in first], ":", "grey")
    _curves(left, [*cpu, guide], "seconds (CPU, in-process)", titles[0])
    _curves(right, reads, "seconds (wall, whole command)", titles[1])
    _ratios(figure.add_subplot(grid[1, :]), rows)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
