"""How big and how fast `pgsync report` is for large organizations (issue 14: 2,000 stacks by
30 packs must stay usable).

From the repository root:

    python bench/report_size.py                      # 200x10, 2000x30 and 5000x30
    python bench/report_size.py --sizes 2000x30      # STACKSxPACKS, comma-separated

Each org lives in an in-process emulator: groups of 20 stacks, each group with 10 of the packs
at mixed levels, the default group with two more; the desired file upgrades every third
group's packs, moves one stack of every fifth group to the next group and sets advisory packs
mandatory in every seventh, so the report shows changes everywhere. Printed: the HTML report's
size (and the Markdown and JSON ones'), building the report's content from the live state and
the plan, rendering the HTML alone (both in this process, best of three), and the whole CLI
(`python -m pgsync report --out FILE`, interpreter start and every read included).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orgs

from pgsync.cli.options import Settings
from pgsync.cli.workflow import make_api
from pgsync.core.coverage import CoverageReport, coverage_report
from pgsync.core.planning import make_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.render.report_html import render_report_html
from pgsync.render.report_json import render_report_json
from pgsync.render.report_markdown import render_report_markdown

GROUP_SIZE = 20
PACKS_PER_GROUP = 10
LEVELS = ("mandatory", "advisory", "advisory", "disabled", "remediate")
# No token, backend or CI variables of the developer's; a fixed report time.
ENVIRONMENT = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "PGSYNC_", "GITHUB_"))},
    "SOURCE_DATE_EPOCH": "0",
}


@dataclasses.dataclass(frozen=True, slots=True)
class BenchGroup:
    name: str
    stacks: tuple[str, ...]
    packs: tuple[tuple[str, str, str], ...]
    """(name, versionTag, level)"""


def live_groups(stacks: int, packs: int) -> list[BenchGroup]:
    groups = []
    for index in range(stacks // GROUP_SIZE):
        members = tuple(orgs.stack(index * GROUP_SIZE + j) for j in range(GROUP_SIZE))
        chosen = tuple(
            (
                orgs.pack_name((index + k) % packs),
                orgs.PACK_TAGS[0],
                LEVELS[(index + k) % len(LEVELS)],
            )
            for k in range(min(PACKS_PER_GROUP, packs))
        )
        groups.append(BenchGroup(orgs.group_name(index), members, chosen))
    return groups


def desired_groups(live: list[BenchGroup]) -> list[BenchGroup]:
    result = []
    for index, group in enumerate(live):
        packs = group.packs
        if index % 3 == 0:
            packs = tuple((name, orgs.PACK_TAGS[1], level) for name, _, level in packs)
        if index % 7 == 0:
            packs = tuple(
                (name, tag, "mandatory" if level == "advisory" else level)
                for name, tag, level in packs
            )
        members = list(group.stacks)
        if index % 5 == 0:
            members = members[1:]
        if index % 5 == 1:
            members.append(live[index - 1].stacks[0])
        result.append(BenchGroup(group.name, tuple(members), packs))
    return result


def fixture(groups: list[BenchGroup], stacks: int, packs: int) -> dict[str, Any]:
    return {
        "organizations": {
            orgs.ORG: {
                "stacks": [orgs.stack(i) for i in range(stacks)],
                "policyPacks": [
                    {"name": orgs.pack_name(i), "versionTags": list(orgs.PACK_TAGS)}
                    for i in range(packs)
                ],
                "policyGroups": [
                    {
                        "name": "default-policy-group",
                        "policyPacks": [
                            _pack(orgs.pack_name(i), orgs.PACK_TAGS[0], "advisory")
                            for i in range(min(2, packs))
                        ],
                    },
                    *(
                        {
                            "name": g.name,
                            "stacks": list(g.stacks),
                            "policyPacks": [_pack(*p) for p in g.packs],
                        }
                        for g in groups
                    ),
                ],
            }
        }
    }


def _pack(name: str, tag: str, level: str) -> dict[str, Any]:
    return {"name": name, "versionTag": tag, "config": {"all": {"enforcementLevel": level}}}


def desired_yaml(groups: list[BenchGroup]) -> str:
    lines = [f"organization: {orgs.ORG}", "policyGroups:"]
    for g in groups:
        lines += [f"- name: {g.name}", "  stacks:"]
        lines += [f"  - {s}" for s in g.stacks]
        lines.append("  policyPacks:")
        for name, tag, level in g.packs:
            lines += [f"  - name: {name}", f"    versionTag: {tag}"]
            lines.append(f"    enforcementLevel: {level}")
    return "\n".join(lines) + "\n"


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def build(server: EmulatorServer, path: Path) -> CoverageReport:
    """The report's content as the CLI builds it (no stack rules here to look up)."""
    desired = load_desired([str(path)])
    api = make_api(Settings(server.url, False, False, 8), desired.organization)
    live = api.read_live_state(dataclasses.replace(desired, prune=True), coverage=True)
    return coverage_report(make_plan(desired, live, safety=False), live)


def measure(stacks: int, packs: int) -> dict[str, Any]:
    live = live_groups(stacks, packs)
    with (
        EmulatorServer(fixture_from_dict(fixture(live, stacks, packs))) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "groups.yaml"
        path.write_text(desired_yaml(desired_groups(live)), encoding="utf-8")
        report = build(server, path)
        html = render_report_html(report)
        out = Path(tmp) / "report.html"
        command = [sys.executable, "-m", "pgsync", "report", str(path)]
        command += ["--api-url", server.url, "--out", str(out)]
        started = time.perf_counter()
        subprocess.run(command, check=True, env=ENVIRONMENT)
        cli = time.perf_counter() - started
        return {
            "stacks": len(report.stacks),
            "packs": len(report.packs),
            "groups": len(report.groups),
            "changed": len(report.changed),
            "html_bytes": len(html.encode()),
            "cli_html_bytes": out.stat().st_size,
            "markdown_bytes": len(render_report_markdown(report).encode()),
            "json_bytes": len(render_report_json(report).encode()),
            "build_s": best_of(3, lambda: build(server, path)),
            "render_s": best_of(3, lambda: render_report_html(report)),
            "cli_s": cli,
        }


COLUMNS = (
    ("stacks", "stacks", "{}"),
    ("packs", "packs", "{}"),
    ("groups", "groups", "{}"),
    ("changed", "changed", "{}"),
    ("HTML bytes", "html_bytes", "{:,}"),
    ("CLI HTML bytes", "cli_html_bytes", "{:,}"),
    ("Markdown bytes", "markdown_bytes", "{:,}"),
    ("JSON bytes", "json_bytes", "{:,}"),
    ("read+build s", "build_s", "{:.3f}"),
    ("render s", "render_s", "{:.3f}"),
    ("CLI s", "cli_s", "{:.2f}"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200x10,2000x30,5000x30", help="STACKSxPACKS,...")
    sizes = [tuple(map(int, s.split("x"))) for s in parser.parse_args().sizes.split(",")]
    print("| " + " | ".join(title for title, _, _ in COLUMNS) + " |")
    print("|" + "---:|" * len(COLUMNS))
    for stacks, packs in sizes:
        row = measure(stacks, packs)
        print("| " + " | ".join(form.format(row[key]) for _, key, form in COLUMNS) + " |")


if __name__ == "__main__":
    main()
