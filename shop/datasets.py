"""One data set (a demo set or a shop's workspace) and its parts: the tables behind each part, with
the columns they have, and the part itself, loaded from its artifact or built the first time.

    ds.version(part)      changes when the part is rebuilt (the key of every cache above this)
    ds.open(part)         the loaded result (BasketRules, SimilarProducts, SimilarCustomers,
                          SimilarMovies, or the visual index's folder for embed.query.QueryEngine)
    ds.baskets(), ds.order_lines(), ds.purchases(), ds.ratings()   the tables behind the parts

A demo part that has an artifact folder (similar products, the groceries' rules once `python -m
recommend rules` wrote them) is built there the first time, one builder at a time (the build
lock, for the app's visitors and the API alike); where the folder cannot be written it is built
in memory instead. Every table is read through common/tables.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import settings
from common.artifacts import build_lock, stamp
from common.errors import ArtifactError, InputError
from common.shop_tables import OrderColumns
from recommend.workspace.model import CATALOGUE_FILE, RATINGS_FILE, Workspace, customer_orders, rated_items
from shop.demos import Demo

PARTS = ("basket_rules", "similar_products", "similar_customers", "similar_movies", "visual_index")
TITLES = {"basket_rules": "basket rules", "similar_products": "similar products",
          "similar_customers": "similar customers", "similar_movies": "similar items", "visual_index": "visual index"}


@dataclass(frozen=True)
class Purchases:
    """The purchase lines behind similar customers, and which of their columns hold what."""

    table: pd.DataFrame
    cols: OrderColumns  # only the fields these lines have (its price: a customer's spend)

    def bought(self) -> dict[str, frozenset]:
        """What each customer bought (the API's `because` for the neighbours' recommendations)."""
        return {c: frozenset(items) for c, items in self.table.groupby(self.cols.customer)[self.cols.item]}


@dataclass(frozen=True)
class DataSet:
    name: str
    label: str
    parts: tuple[str, ...]
    demo: Demo | None = None
    workspace: Workspace | None = None
    artifacts: Path | None = None

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def label_for(self, part: str | None = None) -> str:
        return self.workspace.label_for(part) if self.workspace is not None else self.label

    def note(self, part: str) -> str | None:
        return self.demo.notes.get(part) if self.demo is not None else None

    def _root(self) -> Path:
        return Path(self.artifacts or settings.ARTIFACTS_DIR)

    def check(self, part: str) -> None:
        if part not in PARTS:
            raise InputError(f"part must be one of {', '.join(PARTS)}, not {part!r}.")
        if part not in self.parts:
            raise LookupError(f"data set {self.name!r} has no {TITLES[part]}")

    # --- where a part is, and its version -----------------------------------------------------

    def folder(self, part: str) -> Path | None:
        """The part's artifact folder (None: a demo part built in memory on every start)."""
        self.check(part)
        if self.workspace is not None:
            return self.workspace.part(part)
        if part == "similar_products":
            return self._root() / "similar_products" / self.name
        if part == "basket_rules" and self.demo.baskets.built:
            return self._root() / self.demo.baskets.built
        if part == "visual_index":
            return Path(settings.DEMO_VISUAL_INDEX)
        return None

    def version(self, part: str) -> tuple:
        """Changes when the part is rebuilt: where it is first (so two data sets never share a
        cache key), then the time of the workspace's manifest (a workspace is replaced whole), of
        the demo artifact's, or of the demo file a part is built from in memory."""
        if self.workspace is not None:
            self.check(part)
            return (str(self.workspace.folder), stamp(self.workspace.folder), self.workspace.manifest.get("created"))
        folder = self.folder(part)
        if folder is not None:
            return (str(folder), stamp(folder))
        return (str(self.demo.path), _file_time(self.demo.path))

    def built(self, part: str) -> bool:
        """The part has an artifact to load (False: a demo part is built on first use)."""
        folder = self.folder(part)
        return self.workspace is not None or (folder is not None and stamp(folder) != 0.0)

    # --- the tables behind the parts ----------------------------------------------------------

    def orders(self) -> pd.DataFrame:
        """A workspace's mapped order lines (order, item and what else was mapped)."""
        if self.workspace is None:
            raise InputError(f"The demo set {self.name} has no mapped orders; its parts read their own files.")
        return self.workspace.orders()

    def baskets(self, name: str | None = None):
        """The baskets Basket rules mine: a demo file as its spec reads it, or a workspace's orders by
        the field its build mined (product names where every line has one, else ids)."""
        from recommend.rules.baskets import long_baskets, read_baskets

        self.check("basket_rules")
        name = name or self.label
        if self.workspace is not None:
            item = self.workspace.manifest["parts"]["basket_rules"]["item_field"]
            return long_baskets(self.orders(), OrderColumns(order="order", item=item), {"name": name})
        spec = self.demo.baskets
        return read_baskets(spec.path, spec.format, spec.columns, name=name)

    def order_lines(self) -> tuple[pd.DataFrame, OrderColumns]:
        """(order lines, the columns of the fields they have)."""
        from recommend.similar_products.model import read_order_lines

        self.check("similar_products")
        if self.workspace is not None:
            lines = self.orders()
            return lines, OrderColumns.mapped(lines.columns)
        return read_order_lines(self.demo.path, self.demo.orders, self.demo.cleaning), self.demo.orders

    def purchases(self) -> Purchases:
        from recommend.similar_customers.model import read_purchases

        self.check("similar_customers")
        if self.workspace is not None:
            lines = customer_orders(self.orders())
            return Purchases(lines, OrderColumns.mapped(lines.columns))
        return Purchases(read_purchases(self.demo.path, self.demo.purchases), self.demo.purchases)

    def ratings(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(ratings as userId, movieId, rating[, timestamp]; items as movieId, title, genres)."""
        from recommend.similar_movies.model import read_movies, read_ratings

        self.check("similar_movies")
        if self.workspace is not None:
            return rated_items(self.workspace.table(RATINGS_FILE), self.workspace.table(CATALOGUE_FILE))
        return read_ratings(self.demo.path), read_movies(Path(getattr(settings, self.demo.ratings)))

    # --- the parts ----------------------------------------------------------------------------

    def open(self, part: str) -> Any:
        """The part, loaded (a workspace's, or a demo's artifact) or built (a demo's first use)."""
        folder = self.folder(part)
        if part == "visual_index":
            if not (folder / "manifest.json").is_file():
                raise ArtifactError(f"No visual index at {folder}; build it with `python -m embed build "
                                    f"--out {folder}` (or open the app's Visual search once).")
            return folder
        model = _model(part)
        if self.workspace is not None:
            return model.load(folder)
        if part == "similar_products":
            return self._demo_artifact(folder, model)
        if part == "basket_rules":
            if folder is not None and (folder / "manifest.json").is_file():
                return model.load(folder)
            spec = self.demo.baskets
            return model.build(self.baskets(), min_support=spec.min_support, min_confidence=spec.min_confidence,
                               min_lift=spec.min_lift)
        if part == "similar_customers":
            purchases = self.purchases()
            return model.build(purchases.table, purchases.cols)
        return model.build(*self.ratings())

    def build_with(self, part: str, name: str) -> Any:
        """The part built in memory by another registered model than its artifact's."""
        model = _model(part)
        if part == "similar_products":
            return model.build(*self.order_lines(), similarity=name)
        if part == "similar_customers":
            purchases = self.purchases()
            return model.build(purchases.table, purchases.cols, model=name)
        raise InputError(f"{TITLES[part]} has one model")

    def _demo_artifact(self, folder: Path, model) -> Any:
        """A demo's artifact: loaded, else built and written once (visitors and API requests that
        arrive meanwhile wait for that build); built in memory where the folder is read-only."""
        try:
            return model.load(folder)
        except ArtifactError:
            pass  # missing, from an older format, or damaged: build it
        try:
            with build_lock(folder):
                try:
                    return model.load(folder)  # another visitor built it meanwhile
                except ArtifactError:
                    pass
                result = model.build(*self.order_lines())
                model.write(result, folder, {"orders": str(self.demo.path), "demo": self.name})
        except OSError:  # a read-only checkout: keep the result in memory instead
            return model.build(*self.order_lines())
        return model.load(folder)


def _file_time(path: Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def _model(part: str):
    from importlib import import_module

    return import_module(f"recommend.{'rules' if part == 'basket_rules' else part}.model")
