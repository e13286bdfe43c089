"""Many reads of one kind, spread over a pool: a few long tasks that each take the next item.

One future per read (`pool.map`) costs a future, a lock, a condition and a wake-up of the
waiting thread per read: a third of the CPU of reading a group from a near API, and more
with many threads. Here each of at most `width` tasks reads item after item from one shared
list, and the caller wakes only to show progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

_In = TypeVar("_In")
_Out = TypeVar("_Out")

PROGRESS_EVERY = 0.1
"""Seconds between two progress reports while reads are under way."""

Progress = Callable[[int, int], None]


class _Reads(Generic[_In, _Out]):
    """The shared state of one fan-out: the next item to take, results, the first failure."""

    def __init__(self, read: Callable[[_In], _Out], items: Sequence[_In]) -> None:
        self._read = read
        self._items = items
        self._lock = threading.Lock()
        self._next = 0
        self.done = 0
        self.results: dict[int, _Out] = {}
        self.failures: dict[int, BaseException] = {}
        self.stopped = False

    def _take(self) -> int | None:
        with self._lock:
            if self.stopped or self._next >= len(self._items):
                return None
            index = self._next
            self._next += 1
            return index

    def run(self) -> None:
        while (index := self._take()) is not None:
            try:
                self.results[index] = self._read(self._items[index])
            except BaseException as error:  # handed to the caller, in the items' order
                with self._lock:
                    self.failures[index] = error
                    self.stopped = True
                return
            with self._lock:
                self.done += 1


def read_all(
    pool: ThreadPoolExecutor,
    read: Callable[[_In], _Out],
    items: Sequence[_In],
    width: int,
    progress: Progress | None = None,
) -> list[_Out]:
    """`read` of every item, in the items' order, at most `width` at a time in `pool`.

    After a failure no further read starts; once the reads under way have ended, the error
    of the first item (in the items' order) that failed is raised, as `pool.map` would.
    """
    if not items:
        return []
    reads = _Reads(read, items)
    tasks: list[Future[None]] = []
    try:
        # Submitted within the `try`: a pool shut down midway still stops those started.
        tasks.extend(pool.submit(reads.run) for _ in range(min(width, len(items))))
        pending = set(tasks)
        while pending:
            _, pending = wait(pending, timeout=PROGRESS_EVERY)
            if progress is not None:
                progress(reads.done, len(items))
    finally:
        # Also when this thread is interrupted: the tasks stop taking items.
        reads.stopped = True
        wait(tasks)
    if reads.failures:
        raise reads.failures[min(reads.failures)]
    return [reads.results[index] for index in range(len(items))]
