"""Pausing the cyclic garbage collector while a long thread's objects are built.

Loading a thread of n turns makes 2n long-lived objects (a ``Turn`` and a
chain link each) and sending it 2n more (the message dicts and content
arrays); none forms a cycle.  Left running, the collector's generational
thresholds would rescan the whole heap, once or more per long load, for
nothing (measured on 100 000 turns: per-turn load cost 4x that at 1 000
turns; to_payload 2x, one full collection of 1.2 s in a large heap).  So
the loops that build them run with the collector paused, when it was on.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["GC_PAUSE_ITEMS", "no_gc"]

GC_PAUSE_ITEMS = 5000
"""Below this many items a pause is not worth it (no full collection is
due to the objects of a short thread)."""


@contextlib.contextmanager
def no_gc(items: int) -> Iterator[None]:
    """Pause the cyclic collector while ``items`` objects are built (a
    no-op for fewer than ``GC_PAUSE_ITEMS``, or if it is already off)."""
    if items < GC_PAUSE_ITEMS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
