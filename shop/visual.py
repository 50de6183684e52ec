"""Visual search over a data set: the first build of the demo index, and what a shop's workspace
adds to each result (the products often bought with it, and what its basket rules show next to
it: one shop, one set of product ids). The app's Visual search page and `POST /v1/visual-search`
both answer from here."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import settings
from common.artifacts import build_lock
from common.errors import ArtifactError, InputError
from shop import pictures as shop_pictures
from shop.registry import DataSet

BOUGHT_WITH = 3
log = logging.getLogger("vitrine.shop")


class BoughtWith:
    """What a workspace adds to its visual search: pictures from its catalogue, its similar
    products and its basket lookup (loaded once per workspace build)."""

    def __init__(self, ds: DataSet):
        self.pictures = shop_pictures.of_workspace(ds.workspace)
        self.similar, self.rules = _part(ds, "similar_products"), _part(ds, "basket_rules")
        self.item_field = (ds.workspace.manifest["parts"].get("basket_rules", {}).get("item_field")
                           if ds.workspace is not None else None)

    def products(self, product: str, k: int = BOUGHT_WITH) -> list[tuple[str, str | None]]:
        """(product id, name) of the products most often bought with this one, best first."""
        from recommend.similar_products.model import answer

        if self.similar is None:
            return []
        try:
            found = answer(self.similar, product, k)
        except InputError:  # a catalogue product never ordered
            return []
        return [(str(i), n if isinstance(n, str) and n else None) for i, n in zip(found["id"], found["name"])]

    def next_to(self, product: str, name: str) -> list[str]:
        """What the basket lookup shows next to this product (its rules, topped up with best sellers)."""
        from recommend.rules.model import answer

        if self.rules is None:
            return []
        try:
            return answer(self.rules, name if self.item_field == "name" else product)["id"].tolist()
        except InputError:  # never in an order: a shop shows the default list
            return list(self.rules.default_recommendation)


def _part(ds: DataSet, part: str):
    """The part, or None when the data set has none or it cannot be loaded (the visual results are
    served without what it adds, and the log says why)."""
    if part not in ds.parts:
        return None
    try:
        return ds.open(part)
    except ArtifactError as exc:
        log.error("Visual results of %s go without its %s: %s", ds.name, part.replace("_", " "), exc)
        return None


def product_name(row, product_id) -> str:
    """A catalogue product's name as a result shows it (the demo's productDisplayName, a shop's name)."""
    for column in ("productDisplayName", "name"):
        value = row.get(column)
        if isinstance(value, str) and value:
            return value
    return str(product_id)


def bought_with(ds: DataSet) -> BoughtWith | None:
    """What the data set adds to visual results (None for a demo catalogue: no orders behind it)."""
    return BoughtWith(ds) if ds.workspace is not None else None


def build_demo_index(ds: DataSet, weights: str,
                     on_progress: Callable[[int, int, float], None] | None = None) -> int | None:
    """Embed the demo catalogue into its index the first time it is asked for (one builder at a
    time; the others wait and then load it): the products embedded, None when it was built."""
    from embed.build import build_index

    folder = ds.folder("visual_index")
    if ds.workspace is not None or (folder / "manifest.json").is_file():
        return None
    images, catalogue = (Path(getattr(settings, name)) for name in ds.demo.catalogue)
    with build_lock(folder):  # two visitors arriving at once: one builds, the other waits
        if (folder / "manifest.json").is_file():
            return None
        return build_index(images, folder, catalogue=catalogue, weights=weights, progress=False,
                           on_progress=on_progress).count
