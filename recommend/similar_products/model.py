"""Similar products, the recommender: products bought in the same orders, top k per product.

Build: order lines -> binary orders x products CSR -> a similarity between products
(similarity.py) -> the k best per product, with the product table and the original notebook's
same-category validation (validation.py) -> an artifact folder with similar_products.csv,
similar_products.json (what a shop serves), products.csv, validation.csv and manifest.json.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.artifacts import library_versions, loading, utc_now, write_artifact
from common.errors import InputError, require_columns
from common.shop_tables import OrderColumns
from common.tables import read_csv
from common.text_match import Matcher
from common.topk import TopK, check_k
from recommend.core.interactions import Interactions, interaction_matrix
from recommend.datasets.online_retail import clean_online_retail, cleaned_columns, product_descriptions
from recommend.similar_products.similarity import DEFAULT_K, DEFAULT_MIN_COUNT, DEFAULT_SIMILARITY, top_similar
from recommend.similar_products.validation import same_category_validation

KIND = "similar_products"
FORMAT_VERSION = 1
REBUILD = ("python -m recommend similar-products --orders ORDERS --order-col ORDER --item-col ITEM "
           "--out {folder}")
CLEANINGS = ("none", "online-retail")


def needed(columns: OrderColumns) -> list[str]:
    """The columns similar products reads: the order, the product, its name, categories and date
    (only the evaluation uses the date: its time split)."""
    return columns.needed("order", "item", "name", "categories", "date")


def read_order_lines(source: Path | pd.DataFrame, columns: OrderColumns, clean: str = "none") -> pd.DataFrame:
    """The needed columns of order lines (a CSV, or a table already read as text, e.g. from a
    database) as text, cleaned as `clean` says (one of CLEANINGS; "online-retail" also reads
    the quantity and unit price it checks)."""
    if clean not in CLEANINGS:
        raise InputError(f"--clean must be one of {', '.join(CLEANINGS)}, not {clean!r}.")
    extra = cleaning_columns(columns, clean)
    wanted = needed(columns) + extra
    if isinstance(source, pd.DataFrame):
        name = source.attrs.get("name", "the orders")
        require_columns(source.columns, wanted, name, shown=len(source.columns))
        lines = source[wanted].copy()
        for c in extra:
            lines[c] = pd.to_numeric(lines[c], errors="coerce")
    else:
        name = Path(source).name
        lines = read_csv(source, what="Orders", required=wanted, usecols=wanted,
                         dtype={c: str for c in needed(columns) if c != columns.date})
    if clean == "online-retail":
        lines = clean_online_retail(lines, columns).lines.drop(columns=extra)
    for c in (columns.order, columns.item):
        lines[c] = lines[c].astype("string").str.strip()
    lines = lines.dropna(subset=[columns.order, columns.item])
    lines = lines[(lines[columns.order] != "") & (lines[columns.item] != "")]
    if lines.empty:
        raise InputError(f"{name} has no order lines with both {columns.order!r} and {columns.item!r}.")
    lines = lines.reset_index(drop=True)
    lines.attrs["cleaning"] = clean
    return lines


def cleaning_columns(columns: OrderColumns, clean: str) -> list[str]:
    """The columns a cleaning reads beside the needed ones (Online Retail's quantity and price)."""
    if clean != "online-retail":
        return []
    read = cleaned_columns(columns)
    return [c for c in (read.quantity, read.price) if c not in needed(columns)]


@dataclass
class SimilarProducts:
    neighbours: pd.DataFrame  # item, rank, similar_item, score, co_count
    products: pd.DataFrame  # item, name, <category columns>, orders
    validation: pd.DataFrame | None  # per category level and category, see same_category_validation
    manifest: dict = field(default_factory=dict)

    def as_json(self) -> dict[str, list[str]]:
        """{item: [similar item ids, best first]}: what the shop serves."""
        table = self.neighbours.sort_values(["item", "rank"])
        return {str(item): [str(x) for x in group] for item, group in table.groupby("item", sort=True)["similar_item"]}


def product_table(lines: pd.DataFrame, columns: OrderColumns, interactions: Interactions) -> pd.DataFrame:
    """One row per product: id, name (most frequent), categories (most frequent), orders holding it."""
    items = interactions.col_ids
    table = pd.DataFrame({"item": np.asarray(items, dtype=object)})
    if columns.name:
        names = product_descriptions(lines[columns.item], lines[columns.name])
        table["name"] = table["item"].map(names)
    else:
        table["name"] = pd.NA
    table["name"] = table["name"].fillna(table["item"]).astype(str)
    for col in columns.categories:
        cats = product_descriptions(lines[columns.item], lines[col])
        table[col] = table["item"].map(cats).fillna("(none)").astype(str)
    table["orders"] = interactions.col_counts().astype(np.int64)
    return table


def check_order_cap(cap) -> int:
    if isinstance(cap, bool) or int(cap) != cap or cap < 2:
        raise InputError(f"--max-order-items must be a whole number of at least 2, not {cap!r}.")
    return int(cap)


def cap_orders(lines: pd.DataFrame, columns: OrderColumns, cap: int) -> pd.DataFrame:
    """The distinct (order, product) lines, only the first `cap` products (by id) of each order:
    the optional guard on very large orders, whose pairs grow with the square of their size."""
    cap = check_order_cap(cap)
    held = lines[[columns.order, columns.item]].drop_duplicates().sort_values([columns.order, columns.item],
                                                                             kind="stable")
    return held[held.groupby(columns.order, sort=False).cumcount() < cap]


def build(lines: pd.DataFrame, columns: OrderColumns, *, similarity: str = DEFAULT_SIMILARITY, k: int = DEFAULT_K,
          min_count: int = DEFAULT_MIN_COUNT, max_order_items: int | None = None,
          progress: bool = False) -> SimilarProducts:
    """Top-k similar products for every product in the order lines, the product table and the
    same-category validation (when category columns are given). `max_order_items` (off by
    default) counts only the first that many products of a larger order (see cap_orders)."""
    started = time.perf_counter()
    require_columns(lines.columns, [c for c in needed(columns) if c != columns.date], "The order lines")
    held = lines if max_order_items is None else cap_orders(lines, columns, max_order_items)
    inter = interaction_matrix(held, columns.order, columns.item)
    if inter.shape[1] < 2:
        raise InputError("Need at least two different products to find similar ones.")
    ease_facts: dict = {}
    found, n_pairs = top_similar(inter.matrix, similarity=similarity, k=k, min_count=min_count, progress=progress,
                                 facts=ease_facts)
    products = product_table(lines, columns, inter)
    sizes = np.diff(inter.matrix.indptr)
    facts = {"order_lines": int(len(lines)), "orders": int(inter.shape[0]),
             "orders_with_2_or_more_products": int((sizes >= 2).sum()), "pairs_bought_together": n_pairs}
    return assemble(found, products, columns, similarity=similarity, k=k, min_count=min_count, ease_facts=ease_facts,
                    facts=facts, read=dict(lines.attrs.get("read", {})), cleaning=lines.attrs.get("cleaning", "none"),
                    started=started,
                    extra={"engine": "local", **({"max_order_items": int(max_order_items)} if max_order_items else {})})


def assemble(found: TopK, products: pd.DataFrame, columns: OrderColumns, *, similarity: str, k: int, min_count: int,
             ease_facts: dict, facts: dict, read: dict, cleaning: str, started: float, extra: dict) -> SimilarProducts:
    """The result from the k best per product (positions in `products`, sorted by id) however they
    were found (this process, or Spark: recommend/similar_products/spark.py): the lists, the
    same-category validation and the manifest, so both engines write the same artifact."""
    rows, ranks = found.entries()
    items = products["item"].to_numpy(dtype=object)
    neighbours = pd.DataFrame({
        "item": items[rows], "rank": ranks + 1, "similar_item": items[found.indices[rows, ranks]],
        "score": found.scores[rows, ranks].round(6), "co_count": found.counts[rows, ranks],
    })
    validation = None
    if columns.categories:
        parts = []
        for col in columns.categories:
            v = same_category_validation(found.indices, products[col].to_numpy(), products["orders"].to_numpy(), k)
            parts.append(v.assign(level=col)[["level", *v.columns]])
        validation = pd.concat(parts, ignore_index=True)
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "model": similarity,
        "similarity": similarity,  # the model's older name, kept for readers of artifacts built before
        "k": int(k),
        "min_count": int(min_count), **({"ease": ease_facts} if ease_facts else {}),
        "columns": {"order": columns.order, "item": columns.item, "name": columns.name,
                    "categories": list(columns.categories)},
        "cleaning": cleaning, "read": read, "order_lines": facts["order_lines"], "orders": facts["orders"],
        "orders_with_2_or_more_products": facts["orders_with_2_or_more_products"], "products": int(len(products)),
        "products_with_similar": int(found.found[:, 0].sum()) if len(products) else 0,
        "pairs_bought_together": facts["pairs_bought_together"],
        "validation": (validation[validation["category"] == "(all)"].drop(columns="category")
                       .to_dict(orient="records") if validation is not None else None),
        **extra,
        "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "scikit-learn", "numba"), "created": utc_now(),
    }
    return SimilarProducts(neighbours, products, validation, manifest)


def json_text(lists: dict[str, list[str]]) -> str:
    """{item: [ids]} as JSON with one product per line: valid JSON, and readable in a diff."""
    body = ",\n".join(f" {json.dumps(key, ensure_ascii=False)}: {json.dumps(ids, ensure_ascii=False)}"
                       for key, ids in lists.items())
    return "{\n" + body + "\n}\n" if body else "{}\n"


def write(result: SimilarProducts, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    """The artifact folder, written beside its final place and swapped in whole."""
    with write_artifact(out, KIND, FORMAT_VERSION, {**result.manifest, "inputs": inputs or {}}, rebuild or REBUILD) as draft:
        result.neighbours.to_csv(draft.path / "similar_products.csv", index=False)
        (draft.path / "similar_products.json").write_text(json_text(result.as_json()), encoding="utf-8")
        result.products.to_csv(draft.path / "products.csv", index=False)
        if result.validation is not None:
            result.validation.to_csv(draft.path / "validation.csv", index=False)
    return Path(out)


def load(folder: Path) -> SimilarProducts:
    """Read an artifact folder back (ids stay text); a missing, older or damaged one is an ArtifactError."""
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        neighbours = art.table("similar_products.csv", dtype={"item": str, "similar_item": str}, keep_default_na=False)
        products = art.table("products.csv", dtype=str, keep_default_na=False)
        validation = (art.table("validation.csv", dtype={"level": str, "category": str}, keep_default_na=False)
                      if (art.path / "validation.csv").is_file() else None)
        products["orders"] = products["orders"].astype(np.int64)
    return SimilarProducts(neighbours, products, validation, art.manifest)


def product_matcher(products: pd.DataFrame) -> Matcher:
    """The search over a product table's names and ids, most ordered first among equal matches:
    build it once per table (the UI caches it) and pass it to find_products."""
    return Matcher(products["name"].astype(str).tolist(), products["orders"].to_numpy(dtype=float),
                   aliases=[products["item"].astype(str).tolist()])


def find_products(products: pd.DataFrame, text: str, limit: int = 50, matcher: Matcher | None = None) -> pd.DataFrame:
    """Products whose name or id holds what was typed (parts of words, accents and case ignored,
    small typos forgiven), best first: exact name or id, name starting so, most ordered."""
    matcher = matcher or product_matcher(products)
    if len(matcher) != len(products):
        raise ValueError(f"matcher built for {len(matcher)} products, table has {len(products)}")
    return products.iloc[matcher.search(text or "", limit)]


def answer(result: SimilarProducts, query: str, k: int | None = None) -> pd.DataFrame:
    """Product `query`'s similar products, best first: rank, id, score (the similarity), co_count
    (orders holding both), name and the categories."""
    k = None if k is None else check_k(k)
    table = result.products.set_index("item")
    item = str(query)
    if item not in table.index:
        raise InputError(f"Unknown product id {item!r}.")
    rows = result.neighbours[result.neighbours["item"] == item].sort_values("rank")
    rows = rows.head(k) if k else rows
    cats = [c for c in result.manifest.get("columns", {}).get("categories", []) if c in table.columns]
    info = table.loc[rows["similar_item"], ["name", *cats]].reset_index(drop=True)
    found = rows[["rank", "similar_item", "score", "co_count"]].rename(columns={"similar_item": "id"})
    return pd.concat([found.reset_index(drop=True), info], axis=1)
