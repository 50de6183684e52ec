"""What the API answers from: the same artifact folders the app reads, for the demo sets and every
workspace, loaded once and swapped for a rebuilt one without a restart.

Each (kind, data set) is loaded on first use. A manifest poll (at most every `poll_seconds`, on
the next request) or `reload()` loads a rebuilt artifact beside the old one and swaps it in with
one assignment: a request in flight keeps the object it started with. A rebuilt artifact that
fails to load leaves the previous one serving, and is not tried again before the next poll; the
failure is kept for /v1/admin/status. Only data sets that exist get a lock or an entry, so a
caller naming data sets cannot grow the store.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import settings
from common.errors import ArtifactError
from common.redact import redact

log = logging.getLogger("vitrine.api")

KINDS = ("rules", "products", "customers", "items", "visual")
# The demo set each endpoint uses by default: the one its app page opens with.
DEFAULTS = {"rules": "groceries", "products": "superstore", "customers": "online_retail", "items": "movielens",
            "visual": "fashion"}
PARTS = {"rules": "basket_rules", "products": "similar_products", "customers": "similar_customers",
         "items": "similar_movies", "visual": "visual_index"}


@dataclass
class Entry:
    value: Any  # the loaded result (BasketRules, SimilarProducts, ...) or a Customers/QueryEngine
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


def _mtime(path: Path) -> float:
    try:
        return Path(path).resolve().stat().st_mtime
    except OSError:
        return 0.0


class Store:
    def __init__(self, artifacts: Path | None = None, *, poll_seconds: float = settings.API_POLL_SECONDS,
                 clock: Callable[[], float] = time.monotonic, weights: str | None = None):
        self.artifacts = Path(artifacts or settings.ARTIFACTS_DIR)
        self.poll_seconds, self.clock, self.weights = poll_seconds, clock, weights or settings.WEIGHTS
        self._entries: dict[tuple[str, str], Entry] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._failed: dict[tuple[str, str], Failure] = {}
        self._guard = threading.Lock()

    # --- where each thing is -------------------------------------------------------------------

    def _workspace(self, name: str):
        from recommend.workspace.model import NAME_PATTERN, RESERVED, open_workspace

        if not NAME_PATTERN.fullmatch(name) or name in RESERVED:
            raise LookupError(f"unknown data set {name!r}")
        try:
            return open_workspace(name, self.artifacts)
        except ArtifactError:
            raise LookupError(f"unknown data set {name!r}: no workspace of that name is built") from None

    def _source(self, kind: str, dataset: str) -> tuple[Path | None, tuple]:
        """(artifact folder or None for an in-memory demo, stamp that changes when it is rebuilt)."""
        from recommend.rules import defaults as rules_defaults
        from recommend.similar_products.model import DEMO_SETS

        if kind == "rules" and dataset in rules_defaults.DEMO_DATASETS:
            folder = self.artifacts / "basket_rules" if dataset == "groceries" else None
            built = folder if folder is not None and (folder / "manifest.json").is_file() else None
            return built, (_mtime(built / "manifest.json") if built else 0.0,)
        if kind == "products" and dataset in DEMO_SETS:
            folder = self.artifacts / "similar_products" / dataset  # where the app keeps it too
            return folder, (_mtime(folder / "manifest.json"),)
        if (kind, dataset) in (("customers", "online_retail"), ("items", "movielens")):
            return None, (0.0,)
        if kind == "visual" and dataset == "fashion":
            folder = Path(settings.DEMO_VISUAL_INDEX)
            return folder, (_mtime(folder / "manifest.json"),)
        ws = self._workspace(dataset)
        part = PARTS[kind]
        if part not in ws.parts:
            raise LookupError(f"data set {dataset!r} has no {part.replace('_', ' ')}")
        return ws.folder / part, (_mtime(ws.folder / "manifest.json"),)

    # --- loading -------------------------------------------------------------------------------

    def _load(self, kind: str, dataset: str, folder: Path | None) -> Any:
        if kind == "rules":
            from recommend.rules import defaults, model
            from recommend.rules.baskets import read_baskets

            if folder is not None:
                return model.load(folder)
            spec = defaults.DEMO_DATASETS[dataset]
            baskets = read_baskets(spec["path"], spec["format"], spec.get("basket_col"), spec.get("item_col"),
                                   spec.get("quantity_col"))
            if dataset == "groceries":  # the lookup `python -m recommend rules` builds with its defaults
                return model.build(baskets)
            return model.build(baskets, min_support=spec["min_support"], min_confidence=spec["min_confidence"],
                               min_lift=spec["min_lift"])
        if kind == "products":
            from recommend.similar_products import model

            if not (folder / "manifest.json").is_file() and dataset in model.DEMO_SETS:
                result = model.build(model.read_order_lines(model.DEMO_SETS[dataset].path,
                                                            model.DEMO_SETS[dataset].columns),
                                     model.DEMO_SETS[dataset].columns)
                model.write(result, folder, {"demo": dataset})
            return model.load(folder)
        if kind == "customers":
            from recommend.similar_customers import model

            if folder is None:
                purchases = model.read_purchases(settings.DEMO_ONLINE_RETAIL, model.PurchaseColumns())
                result, customer, item = model.build(purchases), "CustomerID", "StockCode"
            else:
                ws = self._workspace(dataset)
                purchases = ws.orders()
                purchases = purchases[purchases["customer"] != ""]
                result, customer, item = model.load(folder), "customer", "item"
            bought = {c: frozenset(items) for c, items in purchases.groupby(customer)[item]}
            return Customers(result, bought)
        if kind == "items":
            from recommend.similar_movies import model

            if folder is not None:
                return model.load(folder)
            import pandas as pd

            ratings, movies = pd.read_csv(settings.DEMO_MOVIELENS_RATINGS), pd.read_csv(settings.DEMO_MOVIELENS_MOVIES)
            return model.build(ratings, movies)
        if kind == "visual":
            from embed.query import QueryEngine

            if not (folder / "manifest.json").is_file():
                raise ArtifactError(f"No visual index at {folder}; build it with `python -m embed build "
                                    f"--out {folder}` (or open the app once).")
            engine = QueryEngine.open(folder, self.weights)
            engine.embedder.warm_up()
            return engine
        raise KeyError(kind)

    def peek(self, kind: str, dataset: str | None = None) -> Any | None:
        """The loaded thing if it is loaded and was checked within the poll interval, else None
        (then `get`, which may read files, belongs off the event loop)."""
        entry = self._entries.get((kind, dataset or DEFAULTS[kind]))
        if entry is not None and self.clock() - entry.checked < self.poll_seconds:
            return entry.value
        return None

    def get(self, kind: str, dataset: str | None = None) -> Any:
        """The loaded thing for this kind and data set (LookupError: no such data set or part;
        ArtifactError: it cannot be loaded and no earlier version is loaded)."""
        dataset = dataset or DEFAULTS[kind]
        key = (kind, dataset)
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry.checked < self.poll_seconds:
            return entry.value
        folder, stamp = self._source(kind, dataset)  # LookupError first: no lock for what does not exist
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
            return self._swap(key, folder, stamp, now, entry)

    def _swap(self, key, folder, stamp, now, entry: Entry | None) -> Any:
        """Load `key`'s version `stamp` and swap it in; when it fails, the previous entry serves on."""
        kind, dataset = key
        try:
            value = self._load(kind, dataset, folder)
        except Exception as exc:  # noqa: BLE001 - kept, reported, and the old version serves
            reason = redact(f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(exc, ArtifactError)
                            else str(exc).splitlines()[0])  # /v1/admin/status shows it
            self._failed[key] = Failure(stamp, now, reason)
            log.error("Loading %s:%s failed (%s): %s", kind, dataset,
                      "the previous version serves on" if entry is not None else "nothing to serve", reason)
            if entry is not None:
                entry.checked = now
                return entry.value
            if isinstance(exc, (ArtifactError, LookupError)):
                raise
            raise ArtifactError(reason) from exc
        self._entries[key] = Entry(value, stamp, now)  # one assignment: in-flight requests keep theirs
        self._failed.pop(key, None)
        return value

    def reload(self) -> dict:
        """Load again everything loaded so far (rebuilt or not), swapping each in: what was
        reloaded, what failed and why (those keep serving their previous version)."""
        done, failed = [], {}
        for kind, dataset in list(self._entries):
            name = f"{kind}:{dataset}"
            try:
                folder, stamp = self._source(kind, dataset)
            except LookupError:  # the rebuilt workspace has no such part any more
                self._entries.pop((kind, dataset), None)
                failed[name] = "no longer built; dropped"
                continue
            with self._locks.setdefault((kind, dataset), threading.Lock()):
                entry = self._entries.get((kind, dataset))
                self._swap((kind, dataset), folder, stamp, self.clock(), entry)
            if (kind, dataset) in self._failed:
                failed[name] = self._failed[(kind, dataset)].reason
            else:
                done.append(name)
        return {"reloaded": done, "failed": failed}

    def status(self) -> dict:
        """What is loaded, each with the version it serves, and what failed to load, with why."""
        return {"loaded": {f"{k}:{d}": {"version": list(e.stamp)} for (k, d), e in self._entries.items()},
                "failed": {f"{k}:{d}": f.reason for (k, d), f in self._failed.items()}}

    def loaded(self) -> list[str]:
        return [f"{kind}:{dataset}" for kind, dataset in self._entries]

