"""The collector's young threshold around the hot loops (monitor.collector)."""

from __future__ import annotations

import gc
import threading

import pytest

from monitor.collector import young_collections_every

pytestmark = pytest.mark.unit


def test_set_for_the_block_and_restored_after_it_even_on_an_error() -> None:
    """Only the youngest generation's threshold changes, and only for the block."""
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), young_collections_every(before[0] * 3 + 1):
        assert gc.get_threshold() == (before[0] * 3 + 1, *before[1:])
        raise RuntimeError
    assert gc.get_threshold() == before


def test_overlapping_blocks_on_two_threads_restore_what_was_there_first() -> None:
    """The first block in sets it, the last one out restores it, whatever the order."""
    before = gc.get_threshold()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with young_collections_every(before[0] * 5):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with young_collections_every(before[0] * 5):
        assert gc.get_threshold()[0] == before[0] * 5
    assert gc.get_threshold()[0] == before[0] * 5  # the other thread is still inside
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before
