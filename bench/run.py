"""pgsync's benchmark: reads, rate limits, writes, client CPU, start-up, CPU and scaling, against
the built-in emulator, each beside a baseline or a bound measured in the same run.

From the repository root, with pgsync and the `bench` extra installed
(`pip install -e '.[bench]'`):

    python bench/run.py                  # the full run, about 7 minutes on 2 cores
    python bench/run.py --quick          # a smoke run of every scenario, seconds
    python bench/run.py --out DIR        # where results.json, table.md and scaling.png go

The table is printed row by row as the scenarios finish. Every pgsync command and every
baseline runs as a process of its own and is timed whole (interpreter start included); the
emulator runs in this process, on its own threads, and its request log gives the counts.
bench/README.md says what each scenario measures and how to read the table.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orgs
import report
from report import Baseline, Curve, Row

import pgsync.emulator as emulator_package
from pgsync.emulator import EmulatorServer, Fixture, fixture_from_dict
from pgsync.emulator.control import RecordedRequest

BENCH = Path(__file__).resolve().parent
PACKS = 10
PAGE_SIZE = 100
"""The emulator's page size for the stack listing (EmulatorServer's default)."""
ADDED_STACKS = 5
"""Stacks that exist but are in no group, each added to one group by the many-stacks plan."""


@dataclass(frozen=True, slots=True)
class Config:
    """The sizes of one run; `judge` is False for the smoke run, whose sizes are not the
    issue's, so that no target is called met or missed on them."""

    judge: bool
    repeats: int
    """Runs of each timed target row (pgsync and its baseline taking turns): the median."""
    read_sizes: tuple[int, ...]
    read_latency: float
    parallelism: tuple[int, ...]
    issue_parallelism: int
    """The P of the issue's targets: reads, many stacks, no latency, apply."""
    many_stacks: tuple[int, int]
    """Groups, stacks in the org."""
    no_latency_groups: int
    rate_limit: float
    rate_parallelism: int
    write_groups: int
    write_latency: float
    change_sets: tuple[tuple[int, int], ...]
    """(groups changed, stacks added to each)."""
    apply_shape: tuple[int, int]
    """Groups changed, stacks added to each, at `read_latency`."""
    client_cpu: tuple[int, int]
    """GETs per round, rounds per client (bench/client_cpu.py)."""
    startup_runs: int
    cpu_shape: tuple[int, int, int]
    """Groups, stacks per group, packs per group."""
    cpu_repeats: int
    scaling_sizes: tuple[int, ...]
    scaling_shape: tuple[int, int]
    """Stacks and packs per group."""


FULL = Config(
    judge=True,
    repeats=3,
    read_sizes=(100, 300, 1000),
    read_latency=0.05,
    parallelism=(8, 16),
    issue_parallelism=16,
    many_stacks=(1000, 20000),
    no_latency_groups=10000,
    rate_limit=200,
    rate_parallelism=16,
    write_groups=50,
    write_latency=0.01,
    change_sets=((1, 1), (1, 100), (5, 200), (50, 200)),
    apply_shape=(10, 195),
    client_cpu=(2000, 5),
    startup_runs=15,
    cpu_shape=(1000, 100, 10),
    cpu_repeats=3,
    scaling_sizes=(100, 300, 1000, 3000, 10000),
    scaling_shape=(10, 3),
)
QUICK = Config(
    judge=False,
    repeats=1,
    read_sizes=(30, 60),
    read_latency=0.01,
    parallelism=(8, 16),
    issue_parallelism=16,
    many_stacks=(60, 2000),
    no_latency_groups=300,
    rate_limit=100,
    rate_parallelism=16,
    write_groups=10,
    write_latency=0.005,
    change_sets=((1, 1), (2, 20)),
    apply_shape=(2, 20),
    client_cpu=(300, 2),
    startup_runs=3,
    cpu_shape=(50, 20, 3),
    cpu_repeats=1,
    scaling_sizes=(30, 100, 300),
    scaling_shape=(5, 2),
)


class BenchError(RuntimeError):
    """A measured program failed: the numbers would mean nothing."""


@dataclass(frozen=True, slots=True)
class Run:
    """A finished process: wall and CPU seconds, peak RSS, exit code and output, the CPU
    this process (the emulator, mostly) spent meanwhile, and its `time.monotonic()` start."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    stdout: str
    runner_cpu: float
    started: float

    def timeline(self, log: Sequence[RecordedRequest]) -> Timeline:
        """Where this run's wall time went, from the emulator's log of its requests."""
        first = min(r.arrived for r in log)
        last = max(r.answered for r in log)
        return Timeline(first - self.started, last - first, self.wall - (last - self.started))


@dataclass(frozen=True, slots=True)
class Timeline:
    """A run's wall time in three parts: before its first request reached the emulator
    (interpreter start, imports, loading and checking the files), from then to the last
    answer (the network phase), and after it (planning, rendering, exit)."""

    before: float
    network: float
    after: float

    @staticmethod
    def median(timelines: Sequence[Timeline]) -> Timeline:
        return Timeline(
            statistics.median(t.before for t in timelines),
            statistics.median(t.network for t in timelines),
            statistics.median(t.after for t in timelines),
        )

    def says(self, bound: float | None = None) -> str:
        against = f" ({self.network / bound:.2f}× the bound)" if bound else ""
        return (
            f"first request after {self.before:.2f} s, network phase {self.network:.2f} s"
            f"{against}, {self.after:.2f} s after the last answer"
        )

    def to_json(self) -> dict[str, float]:
        return {"before_s": self.before, "network_s": self.network, "after_s": self.after}


def _environment() -> dict[str, str]:
    # The developer's token, backend or CI variables must not change what pgsync does
    # (on GitHub Actions it would also write step summaries).
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PULUMI_", "PGSYNC_", "GITHUB_")) and name != "CI"
    }
    env["NO_COLOR"] = "1"
    return env


ENVIRONMENT = _environment()


def compile_bytecode() -> None:
    """Write pgsync's bytecode before timing it, as `pip install` does for an installed
    package: a checkout run with PYTHONDONTWRITEBYTECODE set (or a read-only one) would
    otherwise compile every module from source in every process the bench times."""
    compileall.compile_dir(Path(emulator_package.__file__).parent.parent, quiet=1)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_process(args: Sequence[str | Path], ok: Sequence[int] = (0,)) -> Run:
    """Run a program to its end; os.wait4 gives this one child's own CPU time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        runner = _own_cpu()
        started = time.monotonic()
        process = subprocess.Popen(list(map(str, args)), stdout=out, stderr=err, env=ENVIRONMENT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        runner = _own_cpu() - runner
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code not in ok:
        raise BenchError(f"{' '.join(map(str, args))} exited {code}:\n{stderr[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, code, stdout, runner, started)


def pgsync(*args: str | Path, ok: Sequence[int] = (0,)) -> Run:
    return run_process([sys.executable, "-m", "pgsync", *args], ok)


def helper(script: str, *args: str | Path) -> tuple[Run, dict[str, Any]]:
    """Run bench/<script> and parse the JSON object it prints last."""
    run = run_process([sys.executable, BENCH / script, *args])
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return run, result


def console_script() -> list[str]:
    """The command a user types: the `pgsync` script installed beside this interpreter,
    else `python -m pgsync`."""
    script = Path(sys.executable).with_name("pgsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pgsync"]


@contextmanager
def emulator(
    fixture: Fixture, latency: float, rate_limit: float | None = None
) -> Iterator[EmulatorServer]:
    """A fresh emulator (its own copy of the fixture's state) answering after `latency`."""
    server = EmulatorServer(fixture, page_size=PAGE_SIZE, rate_limit=rate_limit)
    server.set_latency(latency)
    with server:
        yield server


@dataclass(frozen=True, slots=True)
class PlanReads:
    """The reads a plan needs at least: the group list, every declared group, the pack list,
    the coverage metadata, and a check of each declared stack no group read holds: one
    lookup each, or the org's stack listing when its pages are fewer (`pages`, else 0).
    `early`: the group list's counts already show that the listing is fewer, so its pages
    need not wait for the details."""

    groups: tuple[str, ...]
    lookups: tuple[str, ...]
    pages: int
    early: bool = False

    @classmethod
    def of(
        cls, live: Sequence[orgs.Group], desired: Sequence[orgs.Group], stacks: int
    ) -> PlanReads:
        unknown = orgs.unknown_stacks(live, desired)
        pages = math.ceil(stacks / PAGE_SIZE)
        names = tuple(g.name for g in desired)
        if len(unknown) > pages:
            declared = {s for g in desired for s in g.stacks}
            read = {g.name for g in desired}
            # The bench's groups have no rules, former names or children: what the group
            # list counts for a group (numStacks) is its explicit stacks.
            most_held = sum(len(g.stacks) for g in live if g.name in read)
            return cls(names, (), pages, early=len(declared) - most_held > pages)
        return cls(names, tuple(map(orgs.stack_path, unknown)), 0)

    @property
    def requests(self) -> int:
        return 1 + len(self.groups) + 1 + 1 + len(self.lookups) + self.pages

    def rounds(self, parallelism: int) -> int:
        """Round trips with every read started as soon as what it depends on is known: the
        list (packs and metadata beside it), the details P at a time, then the stacks no
        detail showed (looked up P at a time, or the listing's pages one after another);
        an early listing's pages go beside the details, sharing the P connections."""
        if self.early:
            return 1 + max(self.pages, math.ceil((len(self.groups) + self.pages) / parallelism))
        details = math.ceil(len(self.groups) / parallelism)
        return 1 + details + math.ceil(len(self.lookups) / parallelism) + self.pages

    def formula(self) -> str:
        stacks = f"{len(self.lookups)} stack lookups" if self.lookups else f"{self.pages} pages"
        if self.early:
            stacks += " beside the details"
        return f"1 list + {len(self.groups):,} groups + 1 packs + 1 metadata + {stacks}"

    def baseline_reads(self) -> dict[str, list[str]]:
        """What the keep-alive baseline reads: these groups, and the paths the plan reads
        besides the group list and details."""
        if self.pages:
            raise BenchError("the keep-alive baseline does not page the stack listing")
        catalog = [
            f"/api/orgs/{orgs.ORG}/policypacks",
            f"/api/orgs/{orgs.ORG}/policygroups/metadata",
            *self.lookups,
        ]
        return {"groups": list(self.groups), "catalog": catalog}


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _judged(config: Config, met: bool) -> bool | None:
    return met if config.judge else None


def _spread(values: Sequence[float], unit: str) -> str:
    """How many runs, and their range when several."""
    if len(values) == 1:
        return f"1 run, {values[0]:.3g} {unit}"
    return f"median of {len(values)}, {min(values):.3g}–{max(values):.3g} {unit}"


def read_groups(n: int) -> tuple[list[orgs.Group], list[orgs.Group]]:
    """The org of the read scenarios, n groups of two stacks, and its desired state, which
    adds one stack (a member of g00000) to every 100th group so that the plan has
    something to show."""
    live = orgs.small_org(n)
    return live, orgs.adding(live, range(1, n, 100), [orgs.stack(0)])


def write_desired(path: Path, groups: Sequence[orgs.Group]) -> Path:
    path.write_text(orgs.desired_yaml(groups), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Timed:
    """A plan run `repeats` times (median), beside the keep-alive baseline when asked."""

    runs: list[Run]
    sent: list[int]
    timelines: list[Timeline]
    baseline: list[Run]
    baseline_sent: list[int]

    @property
    def wall(self) -> float:
        return statistics.median(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)

    def walls(self) -> tuple[float, ...]:
        return tuple(run.wall for run in self.runs)

    @property
    def timeline(self) -> Timeline:
        return Timeline.median(self.timelines)

    def keepalive(self) -> dict[str, Baseline]:
        if not self.baseline:
            return {}
        walls = tuple(run.wall for run in self.baseline)
        median = statistics.median(walls)
        return {report.KEEPALIVE: Baseline(median, max(self.baseline_sent), walls)}

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "walls_s": list(self.walls()),
            "cpu_s": [run.cpu for run in self.runs],
            "rss_mb": max(run.rss_mb for run in self.runs),
            "requests_each_run": self.sent,
            "emulator_cpu_s": [run.runner_cpu for run in self.runs],
            "timeline_each_run": [timeline.to_json() for timeline in self.timelines],
        }
        if self.baseline:
            found["keepalive"] = {
                "walls_s": [run.wall for run in self.baseline],
                "cpu_s": [run.cpu for run in self.baseline],
                "requests_each_run": self.baseline_sent,
            }
        return found


def timed_plan(
    server: EmulatorServer,
    path: Path,
    parallelism: int,
    *,
    repeats: int,
    needed: PlanReads | None,
    work: Path,
) -> Timed:
    """`pgsync plan` `repeats` times and, with `needed`, the keep-alive baseline reading the
    same as many times, the two taking turns so that both meet the same machine load."""
    runs: list[Run] = []
    sent: list[int] = []
    timelines: list[Timeline] = []
    baseline: list[Run] = []
    baseline_sent: list[int] = []
    baseline_reads = work / "baseline-reads.json"
    if needed is not None:
        baseline_reads.write_text(json.dumps(needed.baseline_reads()), encoding="utf-8")
    for _ in range(repeats):
        server.clear_requests()
        runs.append(
            pgsync("plan", path, "--api-url", server.url, "--parallelism", str(parallelism))
        )
        sent.append(len(server.requests))
        timelines.append(runs[-1].timeline(server.requests))
        if needed is not None:
            server.clear_requests()
            run, _ = helper(
                "baselines.py",
                "keepalive-reads",
                server.url,
                orgs.ORG,
                str(parallelism),
                baseline_reads,
            )
            baseline.append(run)
            baseline_sent.append(len(server.requests))
    return Timed(runs, sent, timelines, baseline, baseline_sent)


def reads(config: Config, work: Path, curves: list[Curve]) -> Iterator[Row]:
    """`pgsync plan` of N groups at each parallelism; at the largest N the sequential client
    (a row of its own) and, at the issue's P, the keep-alive baseline, both taking turns."""
    walls: dict[int, list[tuple[float, float]]] = {p: [] for p in config.parallelism}
    bounds: dict[int, list[tuple[float, float]]] = {p: [] for p in config.parallelism}
    rtt = config.read_latency
    largest = max(config.read_sizes)
    for n in config.read_sizes:
        live, desired = read_groups(n)
        path = write_desired(work / f"reads-{n}.yaml", desired)
        needed = PlanReads.of(live, desired, 2 * n)
        baselines: dict[str, Baseline] = {}
        with emulator(fixture_from_dict(orgs.fixture(live, 2 * n, PACKS)), rtt) as server:
            if n == largest:
                progress(f"sequential client, {n} groups at {rtt * 1000:g} ms (≈ {n * rtt:.0f} s)")
                run, _ = helper("baselines.py", "sequential-reads", server.url, orgs.ORG)
                requests = len(server.requests)
                baselines[report.SEQUENTIAL] = Baseline(run.wall, requests)
                yield Row(
                    "sequential client",
                    n,
                    run.wall,
                    rtt * requests,
                    "RTT × requests",
                    requests=requests,
                    runs=(run.wall,),
                    notes=f"baseline: httpx, one request at a time; reads every listed group "
                    f"({requests - 1:,}, default groups included) and no catalog; RTT "
                    f"{rtt * 1000:g} ms",
                    details={"latency_s": rtt, "cpu_s": run.cpu},
                )
                curves.append(Curve("sequential client", [(n, run.wall)], "s", "tab:red"))
            for p in config.parallelism:
                judged = n == largest and p == config.issue_parallelism
                repeats = config.repeats if judged else 1
                timed = timed_plan(
                    server, path, p, repeats=repeats, needed=needed if judged else None, work=work
                )
                bound = rtt * needed.rounds(p)
                walls[p].append((n, timed.wall))
                bounds[p].append((n, bound))
                limit = (1.15 if judged else 1.3) if n == largest else None
                keepalive = timed.keepalive()
                if keepalive:
                    curves.append(
                        Curve(
                            f"keep-alive http.client, P={p}",
                            [(n, keepalive[report.KEEPALIVE].wall_s)],
                            "D",
                            "tab:purple",
                        )
                    )
                yield Row(
                    f"reads-P{p}",
                    n,
                    timed.wall,
                    bound,
                    "RTT bound",
                    requests=max(timed.sent),
                    minimal=needed.requests,
                    target=f"≤ {limit} × bound" if limit else "",
                    limit=limit,
                    met=_judged(config, timed.wall <= limit * bound) if limit else None,
                    runs=timed.walls(),
                    statistic="median",
                    notes=f"RTT {rtt * 1000:g} ms; pgsync CPU {timed.cpu:.2f} s; "
                    f"{timed.timeline.says(bound)}",
                    baselines=baselines | keepalive,
                    details={
                        "latency_s": rtt,
                        "parallelism": p,
                        "stacks": 2 * n,
                        "bound_formula": "RTT × (1 + ⌈N / P⌉)",
                        "minimal_formula": needed.formula(),
                        "exact": True,
                    }
                    | timed.details(),
                )
    for p, color in zip(config.parallelism, ("tab:blue", "tab:green"), strict=False):
        curves.append(Curve(f"pgsync plan, P={p}", walls[p], "o-", color))
        curves.append(Curve(f"lower bound, P={p}", bounds[p], "--", color))


def many_stacks(config: Config, work: Path, curves: list[Curve]) -> Iterator[Row]:
    """A plan of N groups in an org of many more stacks, adding a few stacks that exist but
    are in no group: it must check those, not read the org's whole stack listing."""
    n, total = config.many_stacks
    live = orgs.small_org(n)
    spacing = (total - 2 * n) // ADDED_STACKS
    desired = live
    for i in range(ADDED_STACKS):
        added = orgs.stack(2 * n + i * spacing)
        desired = orgs.adding(desired, [i * (n // ADDED_STACKS)], [added])
    path = write_desired(work / "many-stacks.yaml", desired)
    needed = PlanReads.of(live, desired, total)
    rtt, p = config.read_latency, config.issue_parallelism
    progress(f"many stacks: {n:,} groups, {total:,} stacks, {config.repeats} run(s) each")
    with emulator(fixture_from_dict(orgs.fixture(live, total, PACKS)), rtt) as server:
        timed = timed_plan(server, path, p, repeats=config.repeats, needed=needed, work=work)
    bound = rtt * needed.rounds(p)
    curves.append(
        Curve(f"pgsync plan, {total:,} stacks, P={p}", [(n, timed.wall)], "^", "tab:orange")
    )
    yield Row(
        f"plan, many stacks ({total:,})",
        n,
        timed.wall,
        bound,
        "RTT bound",
        requests=max(timed.sent),
        minimal=needed.requests,
        target="≤ 1.25 × bound",
        limit=1.25,
        met=_judged(config, timed.wall <= 1.25 * bound),
        runs=timed.walls(),
        statistic="median",
        notes=f"adds {ADDED_STACKS} existing stacks of no group; P={p}, RTT {rtt * 1000:g} ms; "
        f"pgsync CPU {timed.cpu:.2f} s; {timed.timeline.says(bound)}",
        baselines=timed.keepalive(),
        details={
            "stacks": total,
            "parallelism": p,
            "latency_s": rtt,
            "bound_formula": "RTT × (1 + ⌈N / P⌉ + ⌈lookups / P⌉)",
            "minimal_formula": needed.formula(),
            "exact": True,
        }
        | timed.details(),
    )


def no_latency(config: Config, work: Path, memory: dict[str, float]) -> Iterator[Row]:
    """A plan of many groups with no added latency, where the client's own cost shows:
    pgsync against the keep-alive baseline at the same P, taking turns."""
    n, p = config.no_latency_groups, config.issue_parallelism
    live, desired = read_groups(n)
    path = write_desired(work / "no-latency.yaml", desired)
    needed = PlanReads.of(live, desired, 2 * n)
    progress(f"no latency: {n:,} groups, {config.repeats} run(s) each")
    with emulator(fixture_from_dict(orgs.fixture(live, 2 * n, PACKS)), 0.0) as server:
        timed = timed_plan(server, path, p, repeats=config.repeats, needed=needed, work=work)
    memory[f"plan of {n:,} groups"] = max(run.rss_mb for run in timed.runs)
    keepalive = timed.keepalive()
    baseline = keepalive[report.KEEPALIVE]
    baseline_cpu = statistics.median(run.cpu for run in timed.baseline)
    emulator_cpu = statistics.median(run.runner_cpu for run in timed.runs)
    # The baseline reads no file; pgsync must at least parse it before its first request.
    parse = min(float(helper("parse_yaml.py", path)[1]["seconds"]) for _ in range(config.repeats))
    floor = baseline.wall_s + parse
    yield Row(
        "plan, no latency",
        n,
        timed.wall,
        baseline.wall_s,
        "keep-alive http.client",
        requests=max(timed.sent),
        minimal=needed.requests,
        target="≤ 1.2 × keep-alive",
        limit=1.2,
        met=_judged(config, timed.wall <= 1.2 * baseline.wall_s),
        runs=timed.walls(),
        statistic="median",
        notes=f"P={p}; CPU: pgsync {timed.cpu:.2f} s, keep-alive {baseline_cpu:.2f} s, "
        f"emulator {emulator_cpu:.2f} s during pgsync; keep-alive {_spread(baseline.runs, 's')}; "
        f"pgsync's {timed.timeline.says()}; parsing the file (C loader, GC off) takes "
        f"{parse:.2f} s: keep-alive plus that parse is {floor / baseline.wall_s:.2f}× keep-alive, "
        f"pgsync {timed.wall / floor:.2f}× it",
        baselines=keepalive,
        details={
            "parallelism": p,
            "minimal_formula": needed.formula(),
            "exact": True,
            "parse_s": parse,
            "keepalive_plus_parse_s": floor,
        }
        | timed.details(),
    )


def rate_limit(config: Config, work: Path) -> Iterator[Row]:
    """A plan of the largest read org against an emulator limited to R requests/s, with and
    without `--max-rps R` (parallelism high enough that latency alone would allow more)."""
    n, rate = max(config.read_sizes), config.rate_limit
    live, desired = read_groups(n)
    path = write_desired(work / "rate-limit.yaml", desired)
    needed = PlanReads.of(live, desired, 2 * n)
    fixture = fixture_from_dict(orgs.fixture(live, 2 * n, PACKS))
    for max_rps in (True, False):
        with emulator(fixture, config.read_latency, rate_limit=rate) as server:
            option = ["--max-rps", f"{rate:g}"] if max_rps else []
            # Without pacing pgsync may run out of retries: that is a result, not a crash.
            run = pgsync(
                "plan",
                path,
                "--api-url",
                server.url,
                "--parallelism",
                str(config.rate_parallelism),
                *option,
                ok=(0, 1),
            )
            log = server.requests
        rejected = sum(1 for r in log if r.status == 429)
        bound = n / rate
        notes = f"{rejected} × 429; P={config.rate_parallelism}"
        if run.code:
            notes += f"; plan failed (exit {run.code})"
        met = run.code == 0 and rejected == 0 and run.wall <= 1.2 * bound
        yield Row(
            f"rate-limit {'--max-rps ' + format(rate, 'g') if max_rps else 'no --max-rps'}",
            n,
            run.wall,
            bound,
            "N / R",
            requests=len(log),
            minimal=needed.requests,
            target="0 × 429, ≤ 1.2 × N/R" if max_rps else "",
            limit=1.2 if max_rps else None,
            met=_judged(config, met) if max_rps else None,
            runs=(run.wall,),
            notes=notes,
            details={
                "rate_limit": rate,
                "rejected_429": rejected,
                "exit_code": run.code,
                "cpu_s": run.cpu,
                "bound_formula": "N / R",
                # Unpaced, the answered 429s are requests too: only the paced run must be exact.
                "exact": max_rps,
            },
        )


DEPENDENCIES = "import click, httpx, yaml"
"""What any CLI built on the user's libraries imports before its first request."""


def _apply_bound(needed: PlanReads, changed: int, parallelism: int) -> int:
    """Round trips of a plan's reads, then per changed group a re-read, the PATCH and a
    read-back, groups written `parallelism` at a time."""
    return needed.rounds(parallelism) + 3 * math.ceil(changed / parallelism)


def writes(config: Config, work: Path) -> Iterator[Row]:
    """`pgsync apply` of change sets that add stacks to groups, and the same edits sent as
    one PATCH each; every run starts from the same fresh emulator state."""
    count = config.write_groups
    per_group = max(k for _, k in config.change_sets)
    groups = orgs.small_org(count)
    stacks = 2 * count + per_group
    fixture = fixture_from_dict(orgs.fixture(groups, stacks, PACKS))
    added = [orgs.stack(2 * count + j) for j in range(per_group)]
    rtt = config.write_latency
    parallelism = 8  # pgsync's default
    for changed, k in config.change_sets:
        edits = [(orgs.group_name(i), s) for i in range(changed) for s in added[:k]]
        desired = orgs.adding(groups, range(changed), added[:k])
        path = write_desired(work / "writes.yaml", desired)
        needed = PlanReads.of(groups, desired, stacks)
        with emulator(fixture, rtt) as server:
            journal = work / "journal.jsonl"
            run = pgsync("apply", path, "--yes", "--api-url", server.url, "--journal", journal)
            log = server.requests
            _check_added(server, edits)
        edits_file = work / "edits.json"
        edits_file.write_text(json.dumps(edits))
        progress(f"one PATCH per change: {len(edits):,} at {rtt * 1000:g} ms")
        with emulator(fixture, rtt) as server:
            baseline_run, _ = helper("baselines.py", "per-change", server.url, orgs.ORG, edits_file)
            baseline = Baseline(baseline_run.wall, len(server.requests))
            _check_added(server, edits)
        patches = sum(1 for r in log if r.method == "PATCH")
        reads_sent = sum(1 for r in log if r.method == "GET")
        minimal = needed.requests + 3 * changed
        yield Row(
            f"writes {changed}×{k}",
            len(edits),
            run.wall,
            rtt * _apply_bound(needed, changed, parallelism),
            "RTT bound",
            requests=len(log),
            minimal=minimal,
            target="requests = minimal",
            met=_judged(config, len(log) == minimal and patches == changed),
            runs=(run.wall,),
            notes=f"{patches} PATCH + {reads_sent} GET; RTT {rtt * 1000:g} ms",
            baselines={report.PER_CHANGE: baseline},
            details={
                "groups_changed": changed,
                "stacks_added_each": k,
                "patch_requests": patches,
                "baseline_patches_per_pgsync_patch": len(edits) / patches,
                "get_requests": reads_sent,
                "latency_s": rtt,
                "cpu_s": run.cpu,
                "minimal_formula": f"{needed.formula()} + 3 × {changed} changed groups",
                "bound_formula": "RTT × (plan's read rounds + 3 × ⌈changed / 8⌉)",
                "exact": True,
            },
        )


def apply_concurrent(config: Config, work: Path) -> Iterator[Row]:
    """`pgsync apply` of many stack adds over a few groups at the read latency, against the
    bound with the groups written concurrently; a fresh emulator for every run."""
    count, per_group = config.apply_shape
    groups = orgs.small_org(count)
    stacks = 2 * count + per_group
    fixture = fixture_from_dict(orgs.fixture(groups, stacks, PACKS))
    added = [orgs.stack(2 * count + j) for j in range(per_group)]
    edits = [(g.name, s) for g in groups for s in added]
    desired = orgs.adding(groups, range(count), added)
    path = write_desired(work / "apply.yaml", desired)
    needed = PlanReads.of(groups, desired, stacks)
    rtt, p = config.read_latency, config.issue_parallelism
    progress(f"apply: {len(edits):,} adds over {count} groups, {config.repeats} run(s)")
    runs: list[Run] = []
    sent: list[int] = []
    timelines: list[Timeline] = []
    patches: list[int] = []
    imports: list[float] = []
    for _ in range(config.repeats):
        imports.append(run_process([sys.executable, "-c", DEPENDENCIES]).wall)
        with emulator(fixture, rtt) as server:
            journal = work / "apply-journal.jsonl"
            runs.append(
                pgsync(
                    "apply",
                    path,
                    "--yes",
                    "--api-url",
                    server.url,
                    "--journal",
                    journal,
                    "--parallelism",
                    str(p),
                )
            )
            log = server.requests
            _check_added(server, edits)
        sent.append(len(log))
        timelines.append(runs[-1].timeline(log))
        patches.append(sum(1 for r in log if r.method == "PATCH"))
    wall = statistics.median(run.wall for run in runs)
    rounds = _apply_bound(needed, count, p)
    bound = rtt * rounds
    # What no Python CLI on these libraries can beat: starting them, then the round trips.
    start = statistics.median(imports)
    floor = start + bound
    yield Row(
        f"apply, {len(edits):,} adds over {count} groups",
        len(edits),
        wall,
        bound,
        "RTT bound",
        requests=max(sent),
        minimal=needed.requests + 3 * count,
        target="≤ 1.2 × bound",
        limit=1.2,
        met=_judged(config, wall <= 1.2 * bound),
        runs=tuple(run.wall for run in runs),
        statistic="median",
        notes=f"{max(patches)} PATCH; {rounds} round trips (P={p}, RTT {rtt * 1000:g} ms); "
        f"pgsync CPU {statistics.median(run.cpu for run in runs):.2f} s; "
        f"{Timeline.median(timelines).says(bound)}; floor {floor:.2f} s "
        f"(`python -c '{DEPENDENCIES}'` {start:.3f} s + the bound): pgsync {wall / floor:.2f}×",
        details={
            "dependencies_import_s": imports,
            "floor_s": floor,
            "groups_changed": count,
            "stacks_added_each": per_group,
            "parallelism": p,
            "latency_s": rtt,
            "walls_s": [run.wall for run in runs],
            "cpu_s": [run.cpu for run in runs],
            "requests_each_run": sent,
            "patch_requests": patches,
            "timeline_each_run": [timeline.to_json() for timeline in timelines],
            "minimal_formula": f"{needed.formula()} + 3 × {count} changed groups",
            "bound_formula": "RTT × (plan's read rounds + 3 × ⌈changed / P⌉)",
            "bound_rounds": rounds,
            "exact": True,
        },
    )


def _check_added(server: EmulatorServer, edits: Sequence[tuple[str, str]]) -> None:
    """Both clients must really have made the change they are timed for."""
    for name in {group for group, _ in edits}:
        body = server.group(orgs.ORG, name)
        held = {f"{s['routingProject']}/{s['name']}" for s in (body or {}).get("stacks", ())}
        missing = [stack for group, stack in edits if group == name and stack not in held]
        if missing:
            raise BenchError(f"group {name} lacks {len(missing)} added stack(s)")


def client_cpu(config: Config) -> Iterator[Row]:
    """µs of CPU per GET through pgsync's Client against a keep-alive http.client connection
    (bench/client_cpu.py: its own process, the emulator in a child of it): one thread, then
    the issue's P threads, where each client's threads contend for the interpreter."""
    gets, rounds = config.client_cpu
    for threads in (1, config.issue_parallelism):
        progress(f"client CPU: {gets:,} GETs × {rounds} rounds per client, {threads} thread(s)")
        run, result = helper(
            "client_cpu.py",
            "--gets",
            str(gets),
            "--rounds",
            str(rounds),
            "--threads",
            str(threads),
        )
        ours = tuple(float(v) for v in result["rounds_us"]["pgsync"])
        theirs = [float(v) for v in result["rounds_us"]["http.client"]]
        ratio = float(result["pgsync_us_per_get"]) / float(result["http_client_us_per_get"])
        alone = threads == 1
        yield Row(
            "client CPU per GET" if alone else f"client CPU per GET, {threads} threads",
            gets,
            float(result["pgsync_us_per_get"]),
            float(result["http_client_us_per_get"]),
            "keep-alive http.client",
            unit="µs",
            target="≤ 2 × http.client",
            limit=2.0,
            met=_judged(config, ratio <= 2.0),
            runs=ours,
            statistic="median",
            notes=(
                "one thread"
                if alone
                else f"one pgsync Client of parallelism {threads}; one http.client "
                "connection per thread"
            )
            + f"; http.client {_spread(theirs, 'µs')}; the emulator in a process of its own",
            details={"client_cpu": result, "process_wall_s": run.wall, "threads": threads},
        )


def startup(config: Config, work: Path) -> Iterator[Row]:
    """Whole-process time of `pgsync --version` and of a small `validate` against an
    interpreter that does nothing, taking turns, median of several runs each."""
    small = write_desired(work / "small.yaml", orgs.small_org(3))
    command = console_script()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pgsync --version": [*command, "--version"],
        "validate": [*command, "validate", str(small)],
    }
    how = "the console script" if len(command) == 1 else "python -m pgsync"
    shown = {
        "pgsync --version": f"`pgsync --version` ({how})",
        "validate": f"`pgsync validate` of 3 groups ({how})",
    }
    progress(f"start-up: {config.startup_runs} runs of each")
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(config.startup_runs):
        for name, args in commands.items():
            walls[name].append(run_process(args).wall)
    floor = statistics.median(walls["python -c pass"])
    idle = _spread(walls["python -c pass"], "s")
    for name, label, limit in (
        ("pgsync --version", "start-up: pgsync --version", 4.0),
        ("validate", "start-up: validate (small file)", 10.0),
    ):
        measured = statistics.median(walls[name])
        yield Row(
            label,
            config.startup_runs,
            measured,
            floor,
            "python -c pass",
            target=f"≤ {limit:g} × python -c pass",
            limit=limit,
            met=_judged(config, measured <= limit * floor),
            runs=tuple(walls[name]),
            statistic="median",
            notes=f"N = runs; {shown[name]}; python -c pass {idle}",
            details={"walls_s": walls, "command": commands[name]},
        )


def _fastest(runs: Sequence[tuple[Run, dict[str, Any]]]) -> tuple[Run, dict[str, Any], float]:
    """The run with the shortest whole-process time, the result with the shortest measured
    step (not always the same run), and the highest peak RSS of them all."""
    quickest = min((run for run, _ in runs), key=lambda run: run.wall)
    result = min((result for _, result in runs), key=lambda result: float(result["seconds"]))
    return quickest, result, max(run.rss_mb for run, _ in runs)


def cpu(config: Config, work: Path, memory: dict[str, float]) -> Iterator[Row]:
    """The issue's big file: validate (whole CLI) and load_desired against parsing it, and the
    offline plan against a live state of equal size; every measurement in a fresh process."""
    count, stacks, packs = config.cpu_shape
    path = work / "cpu.yaml"
    text = orgs.desired_yaml(orgs.wide_org(count, stacks, packs))
    path.write_text(text, encoding="utf-8")
    size = f"{len(text.encode()) / 1e6:.2f} MB, {count * stacks:,} memberships"
    repeats = range(config.cpu_repeats)
    progress(
        f"CPU: {count} groups × {stacks} stacks × {packs} packs ({size}), best of {len(repeats)}"
    )
    parses = [helper("parse_yaml.py", path) for _ in repeats]
    parse, parsed, _ = _fastest(parses)
    gc_parse, gc_parsed, _ = _fastest([helper("parse_yaml.py", path, "--gc") for _ in repeats])
    validates = [pgsync("validate", path) for _ in repeats]
    validate = min(validates, key=lambda run: run.wall)
    memory["validate CLI"] = max(run.rss_mb for run in validates)
    loads = [helper("probe.py", "load", path) for _ in repeats]
    _, loaded, _ = _fastest(loads)
    parse_walls = [run.wall for run, _ in parses]
    reference = {
        "parse_process_s": parse.wall,
        "parse_process_walls_s": parse_walls,
        "parse": parsed,
        "parse_with_gc_process_s": gc_parse.wall,
        "parse_with_gc": gc_parsed,
    }
    yield Row(
        "cpu validate (CLI)",
        count,
        validate.wall,
        parse.wall,
        "C parse, GC off",
        target="≤ 2.5 × GC-off parse",
        limit=2.5,
        met=_judged(config, validate.wall <= 2.5 * parse.wall),
        runs=tuple(run.wall for run in validates),
        statistic="best",
        notes=f"{size}; both whole processes; parse best of {len(parse_walls)}, "
        f"{min(parse_walls):.3f}–{max(parse_walls):.3f} s",
        details={"file_bytes": len(text.encode()), "rss_mb": validate.rss_mb} | reference,
    )
    yield Row(
        "cpu load_desired",
        count,
        loaded["seconds"],
        parsed["seconds"],
        "C parse, GC off",
        runs=tuple(result["seconds"] for _, result in loads),
        statistic="best",
        notes=f"in-process, no interpreter start; parse best of {len(repeats)} too; GC "
        f"{loaded['gc_seconds']:.2f} s of it",
        details={"load": loaded} | reference,
    )
    # The offline plan's target (issue 5's) is a share of the parse as PyYAML runs by default.
    floor = gc_parsed["seconds"]
    for variant, label in (("same", "nothing changed"), ("half", "half the stacks changed")):
        plans = [helper("probe.py", "plan", path, variant) for _ in repeats]
        _, planned, rss = _fastest(plans)
        memory["offline plan"] = max(rss, memory.get("offline plan", 0.0))
        yield Row(
            f"cpu offline plan, {label}",
            count,
            planned["seconds"],
            floor,
            "C parse, GC on",
            target="≤ 0.5 × parse",
            limit=0.5,
            met=_judged(config, planned["seconds"] <= 0.5 * floor),
            runs=tuple(result["seconds"] for _, result in plans),
            statistic="best",
            notes=f"diff + build_plan; GC {planned['gc_seconds']:.2f} s "
            f"of it; {planned['seconds'] / parsed['seconds']:.2f}× the GC-off parse",
            details={"plan": planned, "rss_mb": rss, "variant": variant} | reference,
        )


def scaling(
    config: Config, work: Path, memory: dict[str, float], curves: list[Curve]
) -> Iterator[Row]:
    """validate (load_desired) + offline plan (half changed) from the smallest to the largest
    org, in one fresh process per size, best of 3 each."""
    stacks, packs = config.scaling_shape
    points: dict[str, list[tuple[float, float]]] = {"parse": [], "load": [], "plan": []}
    totals: list[tuple[float, float]] = []
    # The same minus the time the cyclic GC ran: tells pgsync's own growth from the GC's.
    without_gc: list[tuple[float, float]] = []
    for n in config.scaling_sizes:
        path = work / f"scale-{n}.yaml"
        path.write_text(orgs.desired_yaml(orgs.wide_org(n, stacks, packs)), encoding="utf-8")
        run, result = helper("probe.py", "scaling", path)
        memory["scaling (largest process)"] = max(
            run.rss_mb, memory.get("scaling (largest process)", 0.0)
        )
        for step, found in points.items():
            found.append((n, result[step]["seconds"]))
        total = result["load"]["seconds"] + result["plan"]["seconds"]
        collecting = result["load"]["gc_seconds"] + result["plan"]["gc_seconds"]
        totals.append((n, total))
        without_gc.append((n, total - collecting))
        yield Row(
            "scaling validate + plan",
            n,
            total,
            notes=f"{total / n * 1e6:.0f} µs/group, GC {collecting / n * 1e6:.0f} of them; "
            f"{stacks} stacks, {packs} packs each; in-process, each step best of 3",
            details={step: result[step] for step in points} | {"rss_mb": run.rss_mb},
        )
    top = slice(-3, None)
    slopes = {
        "validate + plan": report.loglog_slope(totals[top]),
        "validate + plan, all sizes": report.loglog_slope(totals),
        "validate + plan without GC time": report.loglog_slope(without_gc[top]),
        "PyYAML C parse alone (GC off)": report.loglog_slope(points["parse"][top]),
    }
    span = f"{totals[-3][0]:,.0f}–{totals[-1][0]:,.0f}"
    yield Row(
        "scaling slope",
        int(totals[-1][0]),
        slopes["validate + plan"],
        1.0,
        "linear",
        unit="",
        target=f"log-log slope ≤ 1.1 over {span}",
        limit=1.1,
        met=_judged(config, slopes["validate + plan"] <= 1.1),
        notes=f"over {span} unless said (1 = linear): "
        + ", ".join(f"{name} {slope:.2f}" for name, slope in slopes.items()),
        details={"slopes": slopes, "span": span},
    )
    curves.append(Curve("validate + offline plan", totals, "o-", "tab:blue"))
    curves.append(Curve("validate (load_desired)", points["load"], "s-", "tab:orange"))
    curves.append(Curve("offline plan (half changed)", points["plan"], "^-", "tab:green"))
    curves.append(Curve("PyYAML C parse alone, GC off", points["parse"], "x--", "tab:red"))


def memory_row(config: Config, memory: dict[str, float]) -> Row:
    worst = max(memory.values())
    return Row(
        "peak memory (RSS)",
        config.cpu_shape[0],
        worst,
        500.0,
        "limit",
        unit="MB",
        target="< 500 MB",
        limit=1.0,
        met=_judged(config, worst < 500),
        notes="; ".join(f"{name} {mb:.0f} MB" for name, mb in memory.items()),
        details={"rss_mb": memory},
    )


def requests_row(config: Config, rows: Sequence[Row]) -> Row:
    """Every read and write row must have sent exactly its minimal requests."""
    checked = [row for row in rows if row.details.get("exact")]
    sent = sum(row.requests or 0 for row in checked)
    minimal = sum(row.minimal or 0 for row in checked)
    off = [row for row in checked if row.requests != row.minimal]
    return Row(
        "requests and writes = minimal",
        len(checked),
        float(sent),
        float(minimal),
        "minimal",
        unit="req",
        requests=sent,
        minimal=minimal,
        target="exactly the minimum",
        limit=1.0,
        met=_judged(config, not off),
        notes="N = rows checked; "
        + (
            "every one sent exactly its minimum"
            if not off
            else "not minimal: "
            + ", ".join(
                f"{row.scenario} N={row.n:,} ({row.requests:,} vs {row.minimal:,})" for row in off
            )
        ),
        details={"rows": [f"{row.scenario} N={row.n}" for row in checked]},
    )


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "system": platform.platform(),
        "python": platform.python_version(),
        # What else is installed changes what pgsync's dependencies import (httpcore imports
        # trio when it is there): a fresh virtual environment is what a user runs.
        "virtual_environment": sys.prefix != sys.base_prefix,
        "distributions_installed": sum(1 for _ in importlib.metadata.distributions()),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="output directory")
    args = parser.parse_args(argv)
    config, mode = (QUICK, "quick") if args.quick else (FULL, "full")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[Row] = []
    memory: dict[str, float] = {}
    durations: dict[str, float] = {}
    cpu_curves: list[Curve] = []
    read_curves: list[Curve] = []
    progress(f"{mode} run: about {'20 s' if args.quick else '7 min'}")
    if sys.prefix == sys.base_prefix:
        progress("not in a virtual environment: other packages here may slow pgsync's start-up")
    compile_bytecode()
    lines = report.table_head()
    print("\n".join(lines), flush=True)

    def emit(row: Row) -> None:
        rows.append(row)
        lines.append(report.markdown_line(report.cells(row)))
        print(lines[-1], flush=True)

    with tempfile.TemporaryDirectory(prefix="pgsync-bench-") as scratch:
        work = Path(scratch)
        scenarios = {
            "reads": reads(config, work, read_curves),
            "many stacks": many_stacks(config, work, read_curves),
            "no latency": no_latency(config, work, memory),
            "rate-limit": rate_limit(config, work),
            "writes": writes(config, work),
            "apply": apply_concurrent(config, work),
            "client CPU": client_cpu(config),
            "start-up": startup(config, work),
            "cpu": cpu(config, work, memory),
            "scaling": scaling(config, work, memory, cpu_curves),
        }
        for name, scenario in scenarios.items():
            begun = time.perf_counter()
            for row in scenario:
                emit(row)
            durations[name] = time.perf_counter() - begun
    emit(memory_row(config, memory))
    emit(requests_row(config, rows))
    elapsed = time.perf_counter() - started
    info = machine()
    meta = {
        "mode": mode,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "runtime_s": elapsed,
        "scenario_seconds": durations,
    }
    report.write_json(args.out / "results.json", meta, rows)
    (args.out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stacks, packs = config.scaling_shape
    titles = (
        f"validate and offline plan, {stacks} stacks and {packs} packs per group",
        f"pgsync plan at {config.read_latency * 1000:g} ms per request ({info['cpus']} CPUs)",
    )
    report.write_chart(args.out / "scaling.png", cpu_curves, read_curves, rows, titles)
    print(f"\n{mode} run: {elapsed:.0f} s; results in {args.out}")


if __name__ == "__main__":
    main()
