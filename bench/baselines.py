"""The clients pgsync is compared with, each a program of its own (as pgsync is, timed alike).

    python bench/baselines.py sequential-reads URL ORG
        A hand-written script: list the groups, then read them one at a time with httpx. It
        reads no catalog (packs, stacks, metadata), so it sends fewer requests than pgsync does.
    python bench/baselines.py keepalive-reads URL ORG PARALLELISM READS.json
        What a user would write for speed with nothing but the standard library: PARALLELISM
        threads, each with one persistent http.client connection. READS.json holds "groups",
        the declared groups, and "catalog", the other paths the plan needs. The group list and
        the catalog are sent at once, then the detail of every declared group the list holds;
        every body is decoded as JSON. It is told the catalog paths in advance, which favours
        it.
    python bench/baselines.py per-change URL ORG EDITS.json
        The Pulumi provider's strategy: one plain PATCH per membership change, one at a time.
        EDITS.json is a list of [group, "project/stack"] to add. It sends only those PATCHes,
        none of the reads the provider also does.

Each prints {"requests": N} on stdout; the runner times the whole process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

ACCEPT = "application/vnd.pulumi+8"
# The headers pgsync sends, so that both clients get the same answers.
HEADERS = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate", "User-Agent": "pgsync-bench"}


def groups_path(org: str) -> str:
    return f"/api/orgs/{quote(org, safe='')}/policygroups"


def sequential_reads(url: str, org: str) -> int:
    # httpx is imported where it is used: the keep-alive client must not pay its import.
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=url, headers={"Accept": ACCEPT}, timeout=30) as client:
        base = groups_path(org)
        listing = client.get(base).raise_for_status().json()
        names = [str(g["name"]) for g in listing["policyGroups"]]
        for name in names:
            client.get(f"{base}/{quote(name, safe='')}").raise_for_status().json()
    return 1 + len(names)


class KeepAlive:
    """GETs over one persistent HTTPConnection per calling thread."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "", parts.port
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []

    def get(self, path: str) -> Any:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
            self._local.connection = connection
            self._opened.append(connection)
        connection.request("GET", path, headers=HEADERS)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return json.loads(body)

    def close(self) -> None:
        for connection in self._opened:
            connection.close()


def keepalive_reads(
    url: str, org: str, parallelism: int, declared: Collection[str], catalog: Sequence[str]
) -> int:
    client = KeepAlive(url)
    base = groups_path(org)
    try:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            listing = pool.submit(client.get, base)
            extra = [pool.submit(client.get, path) for path in catalog]
            listed = (str(g["name"]) for g in listing.result()["policyGroups"])
            names = [name for name in listed if name in declared]
            paths = [f"{base}/{quote(name, safe='')}" for name in names]
            for _ in pool.map(client.get, paths):
                pass
            for future in extra:
                future.result()
    finally:
        client.close()
    return 1 + len(catalog) + len(names)


def per_change(url: str, org: str, edits: Sequence[tuple[str, str]]) -> int:
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=url, headers={"Accept": ACCEPT}, timeout=30) as client:
        base = groups_path(org)
        for group, stack in edits:
            project, _, name = stack.partition("/")
            body = {"addStack": {"routingProject": project, "name": name}}
            client.patch(f"{base}/{quote(group, safe='')}", json=body).raise_for_status()
    return len(edits)


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sequential = commands.add_parser("sequential-reads")
    keepalive = commands.add_parser("keepalive-reads")
    writes = commands.add_parser("per-change")
    for command in (sequential, keepalive, writes):
        command.add_argument("url")
        command.add_argument("org")
    keepalive.add_argument("parallelism", type=int)
    keepalive.add_argument("reads")
    writes.add_argument("edits")
    args = parser.parse_args(argv)
    if args.command == "sequential-reads":
        sent = sequential_reads(args.url, args.org)
    elif args.command == "keepalive-reads":
        reads = _read_json(args.reads)
        declared = {str(name) for name in reads["groups"]}
        catalog = [str(path) for path in reads["catalog"]]
        sent = keepalive_reads(args.url, args.org, args.parallelism, declared, catalog)
    else:
        edits = [(str(group), str(stack)) for group, stack in _read_json(args.edits)]
        sent = per_change(args.url, args.org, edits)
    print(json.dumps({"requests": sent}))


if __name__ == "__main__":
    main(sys.argv[1:])
