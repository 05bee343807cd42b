"""Start-up without the cyclic garbage collector.

Starting a monitor builds objects that live as long as the process: the imported modules and
their classes (SQLAlchemy's, pydantic's, ours), the settings, the engine and its schema. While
they pile up, the collector runs again and again (about 150 young collections and a full one
before `monitor fetch` is ready) and frees nothing. So start-up runs with the collector paused;
when it is over, what it built is moved out of the collector's sight (`gc.freeze`), so later
collections do not walk it again, and collection resumes. The few cycles start-up leaves as
garbage are kept until the command ends, when they are handed back (`gc.unfreeze`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[Callable[[], None]]:
    """Pause the cyclic collector for a command's start-up; call the yielded function once
    start-up is over (it resumes collection; later calls do nothing). Leaving the block resumes
    it too, if that has not happened (an error while starting), and unfreezes what was frozen.
    A collector already disabled by the caller stays disabled."""
    was_enabled = gc.isenabled()
    resumed = False

    def started() -> None:
        nonlocal resumed
        if resumed:
            return
        resumed = True
        if was_enabled:
            gc.freeze()
            gc.enable()

    gc.disable()
    try:
        yield started
    finally:
        started()
        if was_enabled:
            gc.unfreeze()
