"""Pausing Python's cyclic garbage collector around work that allocates much and cycles nothing.

A ledger import, a sweep batch and a bulk batch each allocate hundreds of thousands of small
objects (rows, dicts, tuples) that reference counting frees when the work ends. The cyclic
collector would walk them, and every long-lived object of the process, many times over for
nothing: a tenth of a sweep's time and a third of an import's. Paused, it resumes (if it was on)
when the block ends, and whatever cycles the block did make are collected then.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
