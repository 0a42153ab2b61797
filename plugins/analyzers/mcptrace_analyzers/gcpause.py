"""Pause the cyclic garbage collector while a large output is parsed and analysed.

A parse creates millions of small lists and tuples that hold no reference cycles; each batch of new
objects would make the collector rescan all the older ones, which costs about three times the parse
itself (measured: splitting 1M lines 0.7 s without, 2.5 s with). Reference counting still frees
everything; the collector is restored (and runs as usual) afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
