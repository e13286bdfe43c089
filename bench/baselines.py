"""The two clients pgsync is compared with, each a program of its own (as pgsync is, timed alike).

    python bench/baselines.py sequential-reads URL ORG
        A hand-written script: list the groups, then read them one at a time. It reads no
        catalog (packs, stacks, metadata), so it sends fewer requests than pgsync does.
    python bench/baselines.py per-change URL ORG EDITS.json
        The Pulumi provider's strategy: one plain PATCH per membership change, one at a time.
        EDITS.json is a list of [group, "project/stack"] to add. It sends only those PATCHes,
        none of the reads the provider also does.

Each prints {"requests": N} on stdout; the runner times the whole process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from urllib.parse import quote

import httpx

ACCEPT = "application/vnd.pulumi+8"


def sequential_reads(client: httpx.Client, org: str) -> int:
    base = f"/api/orgs/{quote(org, safe='')}/policygroups"
    listing = client.get(base).raise_for_status().json()
    names = [str(g["name"]) for g in listing["policyGroups"]]
    for name in names:
        client.get(f"{base}/{quote(name, safe='')}").raise_for_status().json()
    return 1 + len(names)


def per_change(client: httpx.Client, org: str, edits: Sequence[tuple[str, str]]) -> int:
    base = f"/api/orgs/{quote(org, safe='')}/policygroups"
    for group, stack in edits:
        project, _, name = stack.partition("/")
        body = {"addStack": {"routingProject": project, "name": name}}
        client.patch(f"{base}/{quote(group, safe='')}", json=body).raise_for_status()
    return len(edits)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reads = commands.add_parser("sequential-reads")
    writes = commands.add_parser("per-change")
    for command in (reads, writes):
        command.add_argument("url")
        command.add_argument("org")
    writes.add_argument("edits")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.url, headers={"Accept": ACCEPT}, timeout=30) as client:
        if args.command == "sequential-reads":
            sent = sequential_reads(client, args.org)
        else:
            with open(args.edits, encoding="utf-8") as file:
                edits = [(str(group), str(stack)) for group, stack in json.load(file)]
            sent = per_change(client, args.org, edits)
    print(json.dumps({"requests": sent}))


if __name__ == "__main__":
    main(sys.argv[1:])
