"""Keeping what a long-lived server loaded out of the cyclic garbage collector's way.

CPython frees most objects by reference counting; its cyclic collector only looks for cycles,
by walking every object of a generation. The oldest generation holds everything a server loaded
(the artifacts' tables, TensorFlow's graph: millions of objects), and a full collection,
set off by the allocations of ordinary requests, holds the GIL while it walks them all: every
request in flight waits. Measured on the API with the demo sets and a visual index loaded
(issue #33): p99 222-241 ms with the collector as it is, 7.2 ms with it switched off.

`settle()`, after a load, collects what loading left behind and freezes everything that
survives (`gc.freeze`: moved to a permanent generation that collections never walk, the tool
CPython added for this, bpo-31558). The requests' own garbage is still collected as before,
and frozen objects are still freed by reference counting when the last reference goes.
Only cycles among frozen objects would stay: so after a swap (a rebuilt artifact in, the old
one out) `settle(replaced=True)` unfreezes first, collects the whole heap once (the old
version's cycles go) and freezes again, so resident memory stays flat across reloads. Every
FULL_EVERY-th settle does the same, for what was frozen and dropped since (an evicted cache
entry's cycles): what can stay uncollected is bounded.

VITRINE_GC_FREEZE=0 switches it off, for comparison (bench/api_gc.py measures both).
`pauses` counts every collection's pause (the API's /metrics shows them). The gc callback only
counts and appends to a bounded buffer: code that takes a lock (a metrics library) must never run
inside a collection, which can start in the middle of that very lock's holder.
"""
from __future__ import annotations

import gc
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

ENV = "VITRINE_GC_FREEZE"
FULL_EVERY = 20
_lock = threading.Lock()
_settled = 0


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip() != "0"


def settle(replaced: bool = False) -> bool:
    """After loading: collect, then freeze what survives (see the module docstring); with
    `replaced`, what an earlier load froze is unfrozen and collected first. False when
    VITRINE_GC_FREEZE=0."""
    global _settled
    if not enabled():
        return False
    with _lock:  # two loads settling at once would freeze each other's half-built garbage
        _settled += 1
        if replaced or _settled % FULL_EVERY == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
    return True


PENDING_MAX = 10_000  # pauses kept for a reader that has not drained them (the oldest are dropped)


@dataclass
class Pauses:
    """Every collection's pause by generation, from gc.callbacks: how many, and the pauses (in
    seconds) not yet drained (`drain()`, from outside any collection). Recording costs two clock
    reads and an append per collection."""

    count: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    pending: deque = field(default_factory=lambda: deque(maxlen=PENDING_MAX))  # (generation, seconds)
    _started: float = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        generation = info.get("generation", 2)
        self.count[generation] += 1
        self.pending.append((generation, took))

    def drain(self) -> list[tuple[int, float]]:
        """The pauses recorded since the last drain (thread-safe: deque's popleft)."""
        out = []
        while True:
            try:
                out.append(self.pending.popleft())
            except IndexError:
                return out


pauses = Pauses()


def record_pauses() -> Pauses:
    """Start counting collections' pauses in this process (once; later calls are no-ops)."""
    if pauses not in gc.callbacks:
        gc.callbacks.append(pauses)
    return pauses
