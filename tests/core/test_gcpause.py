"""gc_paused: the collector is off inside, back as it was after, and kept objects out of sight."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from pgsync.core.gcpause import gc_paused
from pgsync.load.desired import load_desired

EXAMPLE = Path(__file__).parents[2] / "examples" / "policygroups.yaml"


def in_collectors_sight(thing: object) -> bool:
    return any(tracked is thing for tracked in gc.get_objects())


def test_collection_is_off_inside_and_back_after() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collection_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused(keep=True):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collection_is_back_after_an_exception() -> None:
    with pytest.raises(RuntimeError), gc_paused(keep=True):
        raise RuntimeError
    assert gc.isenabled()


def test_what_a_pause_keeps_no_collection_walks() -> None:
    with gc_paused(keep=True):
        made = [[index] for index in range(10)]
    assert not in_collectors_sight(made)


def test_a_pause_that_fails_keeps_nothing_out_of_sight() -> None:
    made: list[list[int]] = []
    with pytest.raises(RuntimeError), gc_paused(keep=True):
        made.extend([index] for index in range(10))
        raise RuntimeError
    assert in_collectors_sight(made)


def test_what_a_pause_does_not_keep_stays_collectable() -> None:
    with gc_paused():
        made = [[index] for index in range(10)]
    assert in_collectors_sight(made)


def test_a_kept_desired_state_is_out_of_the_collectors_sight() -> None:
    assert not in_collectors_sight(load_desired([EXAMPLE], keep=True).groups)


def test_a_desired_state_is_collectable_unless_kept() -> None:
    assert in_collectors_sight(load_desired([EXAMPLE]).groups)
