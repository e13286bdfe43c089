"""Client CPU per GET: pgsync's Client against a keep-alive http.client connection.

    python bench/client_cpu.py [--gets N] [--rounds R] [--threads P] [--groups G] [--profile]

Both clients read the same N group details (`GET /api/orgs/bench/policygroups/{name}`, cycling
over G groups of two stacks and one pack, as in the benchmark's small orgs) from the same
emulator, with the same headers, and decode each body as JSON. The emulator runs in a child
process of its own, so that only the clients' CPU is counted: `time.process_time()` of this
process around the N GETs, after 200 unmeasured ones. The two clients take turns, R rounds
each, so that both meet the same machine load. With --threads P (default 1), P threads share
the N GETs: one pgsync Client of parallelism P, or one http.client connection per thread.
--profile prints pgsync's cProfile in CPU time (top 25 by own time, one extra round) to
stderr.

The last line of stdout is one JSON object: µs of CPU per GET for each client (median and
every round) and the ratio of the medians, pgsync / http.client.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import multiprocessing
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote, urlsplit

import orgs

from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.client import ACCEPT, ACCEPT_ENCODING, Client

WARM_UP = 200
HEADERS = {
    "Accept": ACCEPT,
    "Accept-Encoding": ACCEPT_ENCODING,
    "Content-Type": "application/json",
    "User-Agent": "pgsync-bench",
}

Reader = Callable[[str, Sequence[str]], None]
"""Reads every path of a list from the emulator at a URL."""


def serve(spec: dict[str, Any], pipe: Connection) -> None:
    """The child process: the emulator, until the parent says stop."""
    with EmulatorServer(fixture_from_dict(spec)) as server:
        pipe.send(server.url)
        pipe.recv()


def pgsync_reader(threads: int) -> Callable[[str], tuple[Reader, Callable[[], None]]]:
    def open_reader(url: str) -> tuple[Reader, Callable[[], None]]:
        client = Client(url, None, parallelism=threads)

        def read(_url: str, paths: Sequence[str]) -> None:
            for path in paths:
                client.get(path)

        return read, client.close

    return open_reader


def http_client_reader(threads: int) -> Callable[[str], tuple[Reader, Callable[[], None]]]:
    def open_reader(url: str) -> tuple[Reader, Callable[[], None]]:
        parts = urlsplit(url)
        local = threading.local()
        opened: list[http.client.HTTPConnection] = []

        def read(_url: str, paths: Sequence[str]) -> None:
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
                local.connection = connection
                opened.append(connection)
            for path in paths:
                connection.request("GET", path, headers=HEADERS)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {response.status}")
                json.loads(body)

        def close() -> None:
            for connection in opened:
                connection.close()

        return read, close

    return open_reader


def run(read: Reader, url: str, paths: Sequence[str], threads: int) -> None:
    """All `paths` read, split among `threads` threads (this one alone for 1)."""
    if threads == 1:
        read(url, paths)
        return
    workers = [threading.Thread(target=read, args=(url, paths[i::threads])) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def cpu_per_get(
    open_reader: Callable[[str], tuple[Reader, Callable[[], None]]],
    url: str,
    paths: Sequence[str],
    threads: int,
    profile: cProfile.Profile | None = None,
) -> float:
    """µs of this process's CPU per GET over `paths`, after a warm-up on a fresh client."""
    read, close = open_reader(url)
    try:
        run(read, url, paths[:WARM_UP], threads)
        started = time.process_time()
        if profile is not None:
            profile.enable()
        run(read, url, paths, threads)
        if profile is not None:
            profile.disable()
        return (time.process_time() - started) / len(paths) * 1e6
    finally:
        close()


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=5000, help="measured GETs per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per client")
    parser.add_argument("--threads", type=int, default=1, help="reading threads")
    parser.add_argument("--groups", type=int, default=1000, help="groups in the org")
    parser.add_argument("--profile", action="store_true", help="pgsync's profile to stderr")
    args = parser.parse_args(argv)
    groups = orgs.small_org(args.groups)
    spec = orgs.fixture(groups, stacks=2 * args.groups, packs=10)
    base = f"/api/orgs/{orgs.ORG}/policygroups"
    paths = [f"{base}/{quote(groups[i % len(groups)].name, safe='')}" for i in range(args.gets)]

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(spec, theirs), daemon=True)
    child.start()
    try:
        url: str = ours.recv()
        clients = {
            "pgsync": pgsync_reader(args.threads),
            "http.client": http_client_reader(args.threads),
        }
        rounds: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, open_reader in clients.items():
                rounds[name].append(cpu_per_get(open_reader, url, paths, args.threads))
        if args.profile:
            # CPU, not wall time: waiting for the emulator is not the client's cost.
            profile = cProfile.Profile(time.process_time)
            cpu_per_get(clients["pgsync"], url, paths, args.threads, profile)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    finally:
        ours.send("stop")
        child.join(timeout=10)
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    result = {
        "gets": args.gets,
        "threads": args.threads,
        "pgsync_us_per_get": round(medians["pgsync"], 1),
        "http_client_us_per_get": round(medians["http.client"], 1),
        "ratio": round(medians["pgsync"] / medians["http.client"], 2),
        "rounds_us": {name: [round(v, 1) for v in values] for name, values in rounds.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
