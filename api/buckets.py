"""Each key's token bucket (tokens left, when last seen): in this process, or in a file every
worker maps, so `python -m api --workers N` holds a key to its rate rather than N times it.

`change(name, step)` runs `step(tokens, last)` (None, None for a bucket not seen yet) under the
lock and stores what it returns. The shared table is a fixed array of slots (a 16-byte digest of
the key's name, tokens, last) in a 0600 file: an `fcntl.flock` orders the processes, a thread
lock this process's threads (flock does not tell threads of one process apart). A lock and an
unlock are two system calls, about a microsecond each against ~300 µs a request
(bench/api_auth.py measures the cost of keys)."""
from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from pathlib import Path
from typing import Callable

Step = Callable[[float | None, float | None], tuple[float, float, float]]  # -> tokens, last, result


class Buckets:
    """The buckets of this process."""

    def __init__(self):
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def change(self, name: str, step: Step) -> float:
        with self._lock:
            tokens, last, result = step(*self._state.get(name, (None, None)))
            self._state[name] = (tokens, last)
            return result


class SharedBuckets(Buckets):
    """The buckets of every worker, in the file at `path` (made 0600 if missing)."""
    SLOTS = 4096  # keys; a table this full refuses the key's requests rather than let them through
    _SLOT = struct.Struct("16sdd")
    _EMPTY = bytes(16)

    def __init__(self, path: Path | str):
        super().__init__()
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = self.SLOTS * self._SLOT.size
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)  # zeros: every slot empty
        self._map = mmap.mmap(self._fd, size)

    def change(self, name: str, step: Step) -> float:
        digest = hashlib.blake2b(name.encode(), digest_size=16).digest()
        start = int.from_bytes(digest[:4], "little")
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                for probe in range(self.SLOTS):
                    offset = (start + probe) % self.SLOTS * self._SLOT.size
                    held, tokens, last = self._SLOT.unpack_from(self._map, offset)
                    if held in (digest, self._EMPTY):
                        break
                else:
                    return 1.0  # full: wait a second (fail closed)
                tokens, last, result = step(*((tokens, last) if held == digest else (None, None)))
                self._SLOT.pack_into(self._map, offset, digest, tokens, last)
                return result
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
