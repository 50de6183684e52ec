"""Giving freed memory back to the system in the long-lived app process, and keeping what it
loaded out of the garbage collector's walks.

glibc keeps the heap pages that a build or an embedding freed, so the resident size of the
server only grows; `malloc_trim` returns them (20-30 MB after the demo builds and 20 visual
queries, measured by bench/app_memory.py). A no-op where the C library is not glibc.
`loaded()`, after a cached load, also settles the heap (common.heap): the load is frozen, so the
collections that visitors' reruns set off do not walk it (nor TensorFlow's objects) every time.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

from common import heap


@lru_cache(maxsize=1)
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release() -> None:
    """Return the heap's free pages to the system (a few milliseconds)."""
    trim = _trim()
    if trim is not None:
        trim(0)


def loaded() -> None:
    """After a cached load: the heap settled (common.heap.settle), then free pages returned."""
    heap.settle()
    release()
