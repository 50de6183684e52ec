"""A bounded, ordered pool.map: results in input order with at most `depth` in flight, so a
long stream of images (decoded, or fetched by URL) never piles up in memory."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Callable, Iterable, Iterator


def ordered_map(pool: ThreadPoolExecutor, fn, items: Iterable, depth: int,
                wait: Callable[[Future], object] = Future.result) -> Iterator:
    """pool.map in order, but with at most `depth` results in flight (bounded memory); each
    result is taken with `wait(future)`."""
    it = iter(items)
    pending = deque(pool.submit(fn, x) for x in islice(it, depth))
    while pending:
        result = wait(pending.popleft())
        nxt = next(it, _DONE)
        if nxt is not _DONE:
            pending.append(pool.submit(fn, nxt))
        yield result


_DONE = object()
