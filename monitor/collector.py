"""The cyclic garbage collector while the hot loops run: fewer young collections.

A batch of the processing stage or a fetch cycle makes hundreds of thousands of short-lived
containers (rows, entries, evidence, matches) that reference counting frees. At CPython's
default the collector looks at the youngest objects every 700 net allocations and walks every
survivor again each time, finding next to no garbage. While they run, it looks every
YOUNG_COLLECTION_OBJECTS allocations instead; the older generations keep their thresholds.

Measured: the processing stage at a 100k window with its encoding out of the way
(bench/process.py --window 100000, vectors computed before), this process's CPU per 2,000
articles 1.99-2.40 s at 700 against 1.71-1.85 s at 10,000 (four interleaved pairs; 5,000 to
100,000 measured alike); a warm fetch cycle of 200 feeds (bench/ingest.py --vs-reader)
0.79-0.86 s at 700 against 0.75-0.79 s at 10,000 (three interleaved pairs).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_OBJECTS = 10_000

_lock = threading.Lock()
_holders = 0
_before: tuple[int, ...] = ()


@contextmanager
def young_collections_every(allocations: int) -> Iterator[None]:
    """The youngest generation is collected every `allocations` net allocations of container
    objects meanwhile (gc.set_threshold). Blocks may overlap on several threads (the service
    fetches while it processes): the first to enter sets the threshold, the last to leave
    restores what was there before the first."""
    global _holders, _before
    with _lock:
        if not _holders:
            _before = gc.get_threshold()
            gc.set_threshold(allocations, *_before[1:])
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if not _holders:
                gc.set_threshold(*_before)
