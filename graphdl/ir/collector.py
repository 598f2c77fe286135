"""Pausing Python's cycle collector around whole-graph work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a graph is optimized or emitted.

    The passes and the emitter allocate hundreds of thousands of small, long-lived objects
    (nodes, their tuples, memo entries, source lines), and each allocation burst triggers full
    collections that walk the whole heap: on a 10^5-node graph that doubles the optimization
    time. Graphs are acyclic, so reference counting frees what the work drops; anything else
    waits for the next collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
