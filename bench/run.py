"""pgsync's benchmark: reads, rate limits, writes, CPU and scaling, against the built-in emulator.

From the repository root, with pgsync and the `bench` extra installed
(`pip install -e '.[bench]'`):

    python bench/run.py                  # the full run, a few minutes
    python bench/run.py --quick          # a smoke run of every scenario, seconds
    python bench/run.py --out DIR        # where results.json, table.md and scaling.png go

The table is printed row by row as the scenarios finish. Every pgsync command and every
baseline runs as a process of its own and is timed whole (interpreter start included); the
emulator runs in this process, on its own threads, and its request log gives the counts.
bench/README.md says what each scenario measures and how to read the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
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

from pgsync.emulator import EmulatorServer, Fixture, fixture_from_dict

BENCH = Path(__file__).resolve().parent
PACKS = 10
PAGE_SIZE = 100
"""The emulator's page size for the stack listing (EmulatorServer's default)."""


@dataclass(frozen=True, slots=True)
class Config:
    """The sizes of one run; `judge` is False for the smoke run, whose sizes are not the
    issue's, so that no target is called met or missed on them."""

    judge: bool
    read_sizes: tuple[int, ...]
    read_latency: float
    parallelism: tuple[int, ...]
    rate_limit: float
    rate_parallelism: int
    write_groups: int
    write_latency: float
    change_sets: tuple[tuple[int, int], ...]
    """(groups changed, stacks added to each)."""
    cpu_shape: tuple[int, int, int]
    """Groups, stacks per group, packs per group."""
    cpu_repeats: int
    scaling_sizes: tuple[int, ...]
    scaling_shape: tuple[int, int]
    """Stacks and packs per group."""


FULL = Config(
    judge=True,
    read_sizes=(100, 300, 1000),
    read_latency=0.05,
    parallelism=(8, 16),
    rate_limit=200,
    rate_parallelism=16,
    write_groups=50,
    write_latency=0.01,
    change_sets=((1, 1), (1, 100), (5, 200), (50, 200)),
    cpu_shape=(1000, 100, 10),
    cpu_repeats=3,
    scaling_sizes=(100, 300, 1000, 3000, 10000),
    scaling_shape=(10, 3),
)
QUICK = Config(
    judge=False,
    read_sizes=(30, 60),
    read_latency=0.01,
    parallelism=(8, 16),
    rate_limit=100,
    rate_parallelism=16,
    write_groups=10,
    write_latency=0.005,
    change_sets=((1, 1), (2, 20)),
    cpu_shape=(50, 20, 3),
    cpu_repeats=1,
    scaling_sizes=(30, 100, 300),
    scaling_shape=(5, 2),
)


class BenchError(RuntimeError):
    """A measured program failed: the numbers would mean nothing."""


@dataclass(frozen=True, slots=True)
class Run:
    """A finished process: wall and CPU seconds, peak RSS, exit code and output."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    stdout: str


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


def run_process(args: Sequence[str], ok: Sequence[int] = (0,)) -> Run:
    """Run a program to its end; os.wait4 gives this one child's own CPU time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, env=ENVIRONMENT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code not in ok:
        raise BenchError(f"{' '.join(args)} exited {code}:\n{stderr[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code, stdout)


def pgsync(*args: str | Path, ok: Sequence[int] = (0,)) -> Run:
    return run_process([sys.executable, "-m", "pgsync", *map(str, args)], ok)


def helper(script: str, *args: str | Path) -> tuple[Run, dict[str, Any]]:
    """Run bench/<script> and parse the JSON object it prints last."""
    run = run_process([sys.executable, str(BENCH / script), *map(str, args)])
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return run, result


@contextmanager
def emulator(
    fixture: Fixture, latency: float, rate_limit: float | None = None
) -> Iterator[EmulatorServer]:
    """A fresh emulator (its own copy of the fixture's state) answering after `latency`."""
    server = EmulatorServer(fixture, page_size=PAGE_SIZE, rate_limit=rate_limit)
    server.set_latency(latency)
    with server:
        yield server


def plan_reads(groups: int, stacks: int) -> int:
    """The requests a plan needs: the group list, every declared group, the pack list, the
    stack listing's pages, and the coverage metadata."""
    return 1 + groups + 1 + math.ceil(stacks / PAGE_SIZE) + 1


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _judged(config: Config, met: bool) -> bool | None:
    return met if config.judge else None


def read_org(n: int, path: Path) -> Fixture:
    """The org of the read scenarios: n groups of two stacks. Its desired state, written to
    `path`, adds one stack to every 100th group, so that the plan has something to show."""
    groups = orgs.small_org(n)
    path.write_text(orgs.desired_yaml(orgs.adding(groups, range(1, n, 100), [orgs.stack(0)])))
    return fixture_from_dict(orgs.fixture(groups, 2 * n, PACKS))


def reads(config: Config, work: Path, curves: list[Curve]) -> Iterator[Row]:
    """`pgsync plan` of N groups at each parallelism, and the sequential client at the
    largest N."""
    walls: dict[int, list[tuple[float, float]]] = {p: [] for p in config.parallelism}
    bounds: dict[int, list[tuple[float, float]]] = {p: [] for p in config.parallelism}
    sequential: list[tuple[float, float]] = []
    rtt = config.read_latency
    for n in config.read_sizes:
        path = work / f"reads-{n}.yaml"
        fixture = read_org(n, path)
        largest = n == max(config.read_sizes)
        baseline: dict[str, Baseline] = {}
        with emulator(fixture, rtt) as server:
            if largest:
                progress(f"sequential client, {n} groups at {rtt * 1000:g} ms (≈ {n * rtt:.0f} s)")
                run, _ = helper("baselines.py", "sequential-reads", server.url, orgs.ORG)
                baseline[report.SEQUENTIAL] = Baseline(run.wall, len(server.requests))
                sequential.append((n, run.wall))
            for p in config.parallelism:
                server.clear_requests()
                run = pgsync("plan", path, "--api-url", server.url, "--parallelism", str(p))
                bound = rtt * (1 + math.ceil(n / p))
                walls[p].append((n, run.wall))
                bounds[p].append((n, bound))
                yield Row(
                    f"reads-P{p}",
                    n,
                    run.wall,
                    bound,
                    requests=len(server.requests),
                    minimal=plan_reads(n, 2 * n),
                    target="≤ 1.3 × bound" if largest else "",
                    met=_judged(config, run.wall <= 1.3 * bound) if largest else None,
                    notes=f"RTT {rtt * 1000:g} ms; pgsync CPU {run.cpu:.2f} s",
                    baselines=baseline,
                    details={
                        "latency_s": rtt,
                        "parallelism": p,
                        "stacks": 2 * n,
                        "cpu_s": run.cpu,
                        "rss_mb": run.rss_mb,
                        "bound_formula": "RTT × (1 + ⌈N / P⌉)",
                        "minimal_formula": "1 list + N groups + 1 packs + ⌈stacks/100⌉ + 1 meta",
                    },
                )
    for p, color in zip(config.parallelism, ("tab:blue", "tab:green"), strict=False):
        curves.append(Curve(f"pgsync plan, P={p}", walls[p], "o-", color))
        curves.append(Curve(f"lower bound, P={p}", bounds[p], "--", color))
    curves.append(Curve("sequential client", sequential, "s", "tab:red"))


def rate_limit(config: Config, work: Path) -> Iterator[Row]:
    """A plan of the largest read org against an emulator limited to R requests/s, with and
    without `--max-rps R` (parallelism high enough that latency alone would allow more)."""
    n, rate = max(config.read_sizes), config.rate_limit
    path = work / "rate-limit.yaml"
    fixture = read_org(n, path)
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
            requests=len(log),
            minimal=plan_reads(n, 2 * n),
            target="0 × 429, ≤ 1.2 × N/R" if max_rps else "",
            met=_judged(config, met) if max_rps else None,
            notes=notes,
            details={
                "rate_limit": rate,
                "rejected_429": rejected,
                "exit_code": run.code,
                "cpu_s": run.cpu,
                "bound_formula": "N / R",
            },
        )


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
        path = work / "writes.yaml"
        path.write_text(orgs.desired_yaml(orgs.adding(groups, range(changed), added[:k])))
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
        pages = math.ceil(stacks / PAGE_SIZE)
        # A plan's reads (in the pool), then per group one re-read, the PATCH and a read-back.
        minimal = plan_reads(count, stacks) + 3 * changed
        bound = rtt * (1 + math.ceil((count + 2 + pages) / parallelism) + 3 * changed)
        yield Row(
            f"writes {changed}×{k}",
            len(edits),
            run.wall,
            bound,
            requests=len(log),
            minimal=minimal,
            target="requests = minimal",
            met=_judged(config, len(log) == minimal and patches == changed),
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
                "minimal_formula": "plan reads + 3 × changed groups (re-read, PATCH, read-back)",
                "bound_formula": "RTT × (1 + ⌈(groups + 2 + pages) / 8⌉ + 3 × changed)",
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
    parse, parsed, _ = _fastest([helper("parse_yaml.py", path) for _ in repeats])
    validate = min((pgsync("validate", path) for _ in repeats), key=lambda run: run.wall)
    memory["validate CLI"] = validate.rss_mb
    _, loaded, _ = _fastest([helper("probe.py", "load", path) for _ in repeats])
    reference = {"parse_process_s": parse.wall, "parse": parsed}
    yield Row(
        "cpu validate (CLI)",
        count,
        validate.wall,
        parse.wall,
        target="≤ 2.5 × parse",
        met=_judged(config, validate.wall <= 2.5 * parse.wall),
        notes=f"{size}; both whole processes",
        details={"file_bytes": len(text.encode()), "rss_mb": validate.rss_mb} | reference,
    )
    yield Row(
        "cpu load_desired",
        count,
        loaded["seconds"],
        parsed["seconds"],
        notes=f"in-process, no interpreter start; GC {loaded['gc_seconds']:.2f} s of it, "
        f"{parsed['gc_seconds']:.2f} s of the parse",
        details={"load": loaded} | reference,
    )
    for variant, label in (("same", "nothing changed"), ("half", "half the stacks changed")):
        _, planned, rss = _fastest([helper("probe.py", "plan", path, variant) for _ in repeats])
        memory["offline plan"] = max(rss, memory.get("offline plan", 0.0))
        yield Row(
            f"cpu offline plan, {label}",
            count,
            planned["seconds"],
            parsed["seconds"],
            target="≤ 0.5 × parse",
            met=_judged(config, planned["seconds"] <= 0.5 * parsed["seconds"]),
            notes=f"diff + build_plan; GC {planned['gc_seconds']:.2f} s of it",
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
            f"{stacks} stacks, {packs} packs each",
            details={step: result[step] for step in points} | {"rss_mb": run.rss_mb},
        )
    top = slice(-3, None)
    slopes = {
        "validate + plan": report.loglog_slope(totals[top]),
        "validate + plan, all sizes": report.loglog_slope(totals),
        "validate + plan without GC time": report.loglog_slope(without_gc[top]),
        "PyYAML C parse alone": report.loglog_slope(points["parse"][top]),
    }
    span = f"{totals[-3][0]:,.0f}–{totals[-1][0]:,.0f}"
    yield Row(
        "scaling slope",
        int(totals[-1][0]),
        None,
        target=f"log-log slope ≤ 1.1 over {span}",
        met=_judged(config, slopes["validate + plan"] <= 1.1),
        notes=f"over {span} unless said (1 = linear): "
        + ", ".join(f"{name} {slope:.2f}" for name, slope in slopes.items()),
        details={"slopes": slopes, "span": span},
    )
    curves.append(Curve("validate + offline plan", totals, "o-", "tab:blue"))
    curves.append(Curve("validate (load_desired)", points["load"], "s-", "tab:orange"))
    curves.append(Curve("offline plan (half changed)", points["plan"], "^-", "tab:green"))
    curves.append(Curve("PyYAML C parse alone", points["parse"], "x--", "tab:red"))


def memory_row(config: Config, memory: dict[str, float]) -> Row:
    worst = max(memory, key=lambda name: memory[name])
    return Row(
        "peak memory (RSS)",
        config.cpu_shape[0],
        None,
        target="< 500 MB",
        met=_judged(config, memory[worst] < 500),
        notes="; ".join(f"{name} {mb:.0f} MB" for name, mb in memory.items()),
        details={"rss_mb": memory},
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
    progress(f"{mode} run: about {'10 s' if args.quick else '4½ min'}")
    lines = report.table_head()
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="pgsync-bench-") as scratch:
        work = Path(scratch)
        scenarios = {
            "reads": reads(config, work, read_curves),
            "rate-limit": rate_limit(config, work),
            "writes": writes(config, work),
            "cpu": cpu(config, work, memory),
            "scaling": scaling(config, work, memory, cpu_curves),
        }
        for name, scenario in scenarios.items():
            begun = time.perf_counter()
            for row in scenario:
                rows.append(row)
                lines.append(report.markdown_line(report.cells(row)))
                print(lines[-1], flush=True)
            durations[name] = time.perf_counter() - begun
    rows.append(memory_row(config, memory))
    lines.append(report.markdown_line(report.cells(rows[-1])))
    print(lines[-1])
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
    report.write_chart(args.out / "scaling.png", cpu_curves, read_curves, titles)
    print(f"\n{mode} run: {elapsed:.0f} s; results in {args.out}")


if __name__ == "__main__":
    main()
