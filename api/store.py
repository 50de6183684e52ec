"""What the API answers from: the same artifact folders the app reads, for the demo sets and every
workspace, loaded once and swapped for a rebuilt one without a restart.

Each (kind, data set) is loaded on first use. A manifest poll (at most every `poll_seconds`, on
the next request) or `reload()` loads a rebuilt artifact beside the old one and swaps it in with
one assignment: a request in flight keeps the object it started with. A rebuilt artifact that
fails to load leaves the previous one serving, and is not tried again before the next poll; the
failure is kept for /v1/admin/status. Only data sets that exist get a lock or an entry, so a
caller naming data sets cannot grow the store. After each load the heap is settled
(common.heap: what was loaded is frozen out of the garbage collector's walks; after a swap the
old version is collected first).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import settings
from api import metrics
from common import heap
from common.errors import ArtifactError
from common.redact import redact
from shop.registry import DEFAULTS, DataSet, Registry

log = logging.getLogger("vitrine.api")

KINDS = ("rules", "products", "customers", "items", "visual")
# The registry's part each endpoint kind answers from (the data sets and their defaults are shop's).
PARTS = {"rules": "basket_rules", "products": "similar_products", "customers": "similar_customers",
         "items": "similar_movies", "visual": "visual_index"}


def default(kind: str) -> str:
    """The data set an endpoint answers from when none is asked for: the one its app page opens on."""
    return DEFAULTS[PARTS[kind]]


@dataclass
class Entry:
    value: Any  # the loaded result (BasketRules, SimilarProducts, ...), or Customers, or Visual
    stamp: tuple
    checked: float
    extra: dict = field(default_factory=dict)


@dataclass
class Failure:
    stamp: tuple  # the version that failed to load
    checked: float
    reason: str


@dataclass
class Customers:
    """Similar customers and what each customer bought (for `because`: the neighbours who bought it)."""

    result: Any
    bought: dict[str, frozenset]


@dataclass
class Visual:
    """A data set's visual index, ready to query, and what its shop adds to each result."""

    engine: Any  # embed.query.QueryEngine
    bought_with: Any  # shop.visual.BoughtWith, or None for a demo catalogue


def _version(stamp: tuple) -> str:
    """An artifact's version as shown (never where it is: a stamp starts with its path)."""
    return " ".join(str(part) for part in stamp[1:])


class Store:
    def __init__(self, artifacts: Path | None = None, *, poll_seconds: float = settings.API_POLL_SECONDS,
                 clock: Callable[[], float] = time.monotonic, weights: str | None = None,
                 visual_batch_max: int | None = None):
        self.artifacts = Path(artifacts or settings.ARTIFACTS_DIR)
        self.registry = Registry(self.artifacts)
        self.poll_seconds, self.clock, self.weights = poll_seconds, clock, weights or settings.WEIGHTS
        self.visual_batch_max = visual_batch_max
        self._entries: dict[tuple[str, str], Entry] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._failed: dict[tuple[str, str], Failure] = {}
        self._guard = threading.Lock()

    def datasets(self) -> list[DataSet]:
        """Every data set the API answers from (the caller keeps those a key may read)."""
        return self.registry.datasets()

    def _source(self, kind: str, dataset: str) -> tuple[DataSet, tuple]:
        """(the data set, the version of its part: it changes when the part is rebuilt)."""
        found = self.registry.get(dataset, PARTS[kind])  # LookupError: no such data set or part
        return found, found.version(PARTS[kind])

    def _load(self, kind: str, found: DataSet) -> Any:
        value = found.open(PARTS[kind])
        if kind == "customers":
            return Customers(value, found.purchases().bought())
        if kind == "visual":
            from embed.query import QueryEngine

            from shop.visual import bought_with

            engine = QueryEngine.open(value, self.weights, max_batch=self.visual_batch_max)
            engine.embedder.warm_up()
            metrics.batching(engine.batcher)
            return Visual(engine, bought_with(found))
        return value

    def peek(self, kind: str, dataset: str | None = None) -> Any | None:
        """The loaded thing if it is loaded and was checked within the poll interval, else None
        (then `get`, which may read files, belongs off the event loop)."""
        entry = self._entries.get((kind, dataset or default(kind)))
        if entry is not None and self.clock() - entry.checked < self.poll_seconds:
            return entry.value
        return None

    def get(self, kind: str, dataset: str | None = None) -> Any:
        """The loaded thing for this kind and data set (LookupError: no such data set or part;
        ArtifactError: it cannot be loaded and no earlier version is loaded)."""
        dataset = dataset or default(kind)
        key = (kind, dataset)
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry.checked < self.poll_seconds:
            return entry.value
        found, stamp = self._source(kind, dataset)  # LookupError first: no lock for what does not exist
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and entry.stamp == stamp:
                entry.checked = now
                return entry.value
            failed = self._failed.get(key)
            if failed is not None and failed.stamp == stamp and now - failed.checked < self.poll_seconds:
                if entry is not None:
                    return entry.value
                raise ArtifactError(failed.reason)
            replaced = entry is not None
            value, loaded = self._swap(key, found, stamp, now, entry)
            entry = None  # the old version's last reference here: gone before the heap is settled
        if loaded:
            heap.settle(replaced=replaced)
        return value

    def _swap(self, key, found: DataSet, stamp, now, entry: Entry | None) -> tuple[Any, bool]:
        """Load `key`'s version `stamp` and swap it in: (the value served, whether it is newly
        loaded); when loading fails, the previous entry serves on."""
        kind, dataset = key
        try:
            value = self._load(kind, found)
        except Exception as exc:  # noqa: BLE001 - kept, reported, and the old version serves
            reason = redact(f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(exc, ArtifactError)
                            else str(exc).splitlines()[0])  # /v1/admin/status shows it
            self._failed[key] = Failure(stamp, now, reason)
            log.error("Loading %s:%s failed (%s): %s", kind, dataset,
                      "the previous version serves on" if entry is not None else "nothing to serve", reason)
            if entry is not None:
                entry.checked = now
                return entry.value, False
            if isinstance(exc, (ArtifactError, LookupError)):
                raise
            raise ArtifactError(reason) from exc
        self._entries[key] = Entry(value, stamp, now)  # one assignment: in-flight requests keep theirs
        self._failed.pop(key, None)
        metrics.loaded(kind, dataset, _version(stamp), _version(entry.stamp) if entry is not None else None)
        if kind == "visual" and entry is not None:  # the old model's batcher thread lets it go, so the
            entry.value.engine.batcher.close()      # settle that follows can collect it
        return value, True

    def reload(self) -> dict:
        """Load again everything loaded so far (rebuilt or not), swapping each in: what was
        reloaded, what failed and why (those keep serving their previous version)."""
        done, failed = [], {}
        for kind, dataset in list(self._entries):
            name = f"{kind}:{dataset}"
            try:
                found, stamp = self._source(kind, dataset)
            except LookupError:  # the rebuilt workspace has no such part any more
                self._entries.pop((kind, dataset), None)
                failed[name] = "no longer built; dropped"
                continue
            with self._locks.setdefault((kind, dataset), threading.Lock()):
                entry = self._entries.get((kind, dataset))
                self._swap((kind, dataset), found, stamp, self.clock(), entry)
                entry = None
            if (kind, dataset) in self._failed:
                failed[name] = self._failed[(kind, dataset)].reason
            else:
                done.append(name)
        if done:
            heap.settle(replaced=True)  # once for all: the old versions' cycles collected, the new frozen
        return {"reloaded": done, "failed": failed}

    def status(self) -> dict:
        """What is loaded, each with the version it serves, and what failed to load, with why."""
        # a version starts with where it is: not shown (an admin key limited to some data sets sees every entry)
        return {"loaded": {f"{k}:{d}": {"version": list(e.stamp[1:])} for (k, d), e in self._entries.items()},
                "failed": {f"{k}:{d}": f.reason for (k, d), f in self._failed.items()}}

    def loaded(self) -> list[str]:
        return [f"{kind}:{dataset}" for kind, dataset in self._entries]

