"""remote.fanout: many reads over a pool, in order, stopping at the first failure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsync.remote.fanout import read_all


def test_results_come_in_the_order_of_the_items() -> None:
    items = list(range(200))
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert read_all(pool, lambda i: i * i, items, width=8) == [i * i for i in items]


def test_no_items_start_no_task() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert read_all(pool, lambda i: 1 / 0, [], width=2) == []


def test_at_most_width_reads_run_at_once() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(3, timeout=10)

    def read(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if item < 3:
            gate.wait()  # the first three meet: three do run at once
        with lock:
            running -= 1
        return item

    with ThreadPoolExecutor(max_workers=16) as pool:
        read_all(pool, read, list(range(50)), width=3)
    assert most == 3


def test_the_error_of_the_first_failing_item_in_order_is_raised() -> None:
    started = threading.Event()

    def read(item: int) -> int:
        if item == 1:
            started.wait(timeout=10)  # item 5 fails first in time
            raise LookupError("one")
        if item == 5:
            try:
                raise LookupError("five")
            finally:
                started.set()
        return item

    with ThreadPoolExecutor(max_workers=8) as pool, pytest.raises(LookupError, match="one"):
        read_all(pool, read, list(range(8)), width=8)


def test_no_read_starts_after_a_failure() -> None:
    seen: list[int] = []

    def read(item: int) -> int:
        seen.append(item)
        if item == 3:
            raise ValueError("stop")
        return item

    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(ValueError):
        read_all(pool, read, list(range(100)), width=1)
    assert seen == [0, 1, 2, 3]


def test_progress_ends_with_every_item_done() -> None:
    reports: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        read_all(pool, str, list(range(30)), width=4, progress=lambda *r: reports.append(r))
    assert reports[-1] == (30, 30)
    assert reports == sorted(reports)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=9))
def test_every_item_is_read_exactly_once(items: list[int], width: int) -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def read(item: int) -> int:
        with lock:
            calls.append(item)
        return -item

    with ThreadPoolExecutor(max_workers=width) as pool:
        assert read_all(pool, read, items, width) == [-i for i in items]
    assert sorted(calls) == sorted(items)
