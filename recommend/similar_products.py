"""Similar products: products bought in the same orders, top k per product.

Build: order lines -> binary orders x products CSR (recommend.interactions) -> co-occurrence
C = XᵀX (sparse; C[i, j] = orders holding both, C[i, i] = orders holding i) -> a similarity
between products -> the k best per product. Nothing dense is ever products x products or
orders x products: the first-order similarities live on C's own sparsity pattern, and the
seed's second-order one is computed a block of rows at a time.

Similarities (`--similarity`), with n_i the orders holding i and N all orders:
  cooccurrence-cosine  the seed's: cosine between rows of C with its diagonal zeroed
                       ("bought with the same other products"), so two products never
                       bought together can still be similar
  jaccard              C_ij / (n_i + n_j - C_ij)      (as Microsoft Recommenders' SAR)
  lift                 N C_ij / (n_i n_j)             (SAR's C_ij / (n_i n_j), times N so 1 = chance)
  cosine               C_ij / sqrt(n_i n_j)           (cosine between the products' order columns)
Pairs bought together fewer than `min_count` times are dropped before any of them is
computed (SAR's co-occurrence threshold).

Defaults live here (settings.py is another engineer's file): DEFAULT_K, DEFAULT_SIMILARITY,
DEFAULT_MIN_COUNT, and the demo data sets.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

import settings
from recommend.artifacts import (ArtifactError, atomic_dir, library_versions, read_manifest, utc_now,
                                 write_json_atomic)
from recommend.cli import InputError
from recommend.interactions import Interactions, interaction_matrix
from recommend.online_retail import clean_online_retail, product_descriptions
from recommend.cosine_neighbours import cosine_neighbours, unit_rows
from recommend.product_top_k import TIE_DECIMALS
from recommend.topk import keep_entries as _kept, row_of_each as _row_of_each, top_k_rows, top_k_sparse_rows

KIND = "similar_products"
FORMAT_VERSION = 1
SIMILARITIES = ("cooccurrence-cosine", "jaccard", "lift", "cosine")
CLEANINGS = ("none", "online-retail")
DEFAULT_K = 5
# Chosen by bench/evaluate_similar_products.py (time-split leave-one-out on the full Online
# Retail data; see the README): Jaccard ranks the hidden product best of the four.
DEFAULT_SIMILARITY = "jaccard"
DEFAULT_MIN_COUNT = 1  # min_count 2 or 3 scored no better and leaves more products without a list
# Rows of the second-order similarity computed at once: bounds the dense block to
# BLOCK_CELLS floats (256 MB) whatever the catalogue size.
BLOCK_CELLS = 32_000_000


@dataclass(frozen=True)
class OrderColumns:
    """Which columns of an order-lines table hold what; `clean` names a data set's cleaning."""

    order: str
    item: str
    name: str | None = None
    categories: tuple[str, ...] = ()
    date: str | None = None  # only the evaluation uses it (time split)
    clean: str = "none"

    def needed(self) -> list[str]:
        cols = [self.order, self.item, self.name, *self.categories, self.date]
        return list(dict.fromkeys(c for c in cols if c))


SUPERSTORE = OrderColumns("Order ID", "Product ID", "Product Name", ("Sub-Category", "Category"), "Order Date")
ONLINE_RETAIL = OrderColumns("InvoiceNo", "StockCode", "Description", (), "InvoiceDate", clean="online-retail")


@dataclass(frozen=True)
class DemoSet:
    label: str
    path: Path
    columns: OrderColumns


DEMO_SETS = {
    "superstore": DemoSet("Superstore (Tableau sample, 2,500 orders)",
                          settings.DATA_DIR / "superstore" / "superstore_sample.csv", SUPERSTORE),
    "online_retail": DemoSet("Online Retail (UCI, invoices of 400 customers)",
                             settings.DATA_DIR / "online_retail" / "online_retail_sample.csv.gz", ONLINE_RETAIL),
}


def demo_artifact_dir(name: str) -> Path:
    """Where the app keeps a demo set's artifact (read from settings each time, so tests can move it)."""
    return Path(settings.ARTIFACTS_DIR) / "similar_products" / name


# ----------------------------------------------------------------------------------- reading


def _read_csv(path: Path, **options) -> pd.DataFrame:
    """pandas.read_csv as UTF-8 (BOM or not), else Windows-1252 (the Kaggle copy of Online Retail)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return pd.read_csv(path, encoding=encoding, **options)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
            raise InputError(f"Cannot read {path} as CSV: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    raise InputError(f"Cannot decode {path} as UTF-8 or Windows-1252 text.")


def read_order_lines(path: Path, columns: OrderColumns) -> pd.DataFrame:
    """The needed columns of an order-lines CSV as text, cleaned as `columns.clean` says."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Orders file {path} not found.")
    if columns.clean not in CLEANINGS:
        raise InputError(f"--clean must be one of {', '.join(CLEANINGS)}, not {columns.clean!r}.")
    extra = ["Quantity", "UnitPrice"] if columns.clean == "online-retail" else []
    header = _read_csv(path, nrows=0).columns
    missing = [c for c in columns.needed() + extra if c not in header]
    if missing:
        raise InputError(f"{path.name} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, header))}.")
    wanted = columns.needed() + [c for c in extra if c not in columns.needed()]
    lines = _read_csv(path, usecols=wanted, dtype={c: str for c in columns.needed() if c != columns.date})
    if columns.clean == "online-retail":
        lines = clean_online_retail(lines, invoice_col=columns.order, stock_col=columns.item,
                                    description_col=columns.name).lines
        lines = lines.drop(columns=[c for c in extra if c not in columns.needed()])
    for c in (columns.order, columns.item):
        lines[c] = lines[c].astype("string").str.strip()
    lines = lines.dropna(subset=[columns.order, columns.item])
    lines = lines[(lines[columns.order] != "") & (lines[columns.item] != "")]
    if lines.empty:
        raise InputError(f"{path.name} has no order lines with both {columns.order!r} and {columns.item!r}.")
    return lines.reset_index(drop=True)


# ----------------------------------------------------------------------------------- sparse core


def cooccurrence(orders: sp.csr_matrix) -> sp.csr_matrix:
    """Products x products: C[i, j] = orders holding both i and j; C[i, i] = orders holding i."""
    x = sp.csr_matrix(orders, dtype=np.int32, copy=True)
    x.data[:] = 1
    c = (x.T.tocsr() @ x).tocsr()
    c.sort_indices()
    return c


def pair_counts(counts: sp.csr_matrix, min_count: int = 1) -> sp.csr_matrix:
    """The co-occurrence without its diagonal and without pairs bought together < min_count times."""
    rows = _row_of_each(counts)
    return _kept(counts, (rows != counts.indices) & (counts.data >= min_count))


def pair_similarity(pairs: sp.csr_matrix, n_orders_per_item: np.ndarray, n_orders: int,
                    similarity: str) -> sp.csr_matrix:
    """A first-order similarity on the pattern of `pairs` (jaccard, lift or cosine)."""
    rows = _row_of_each(pairs)
    cols = pairs.indices
    c = pairs.data.astype(np.float64)
    ni = n_orders_per_item[rows].astype(np.float64)
    nj = n_orders_per_item[cols].astype(np.float64)
    if similarity == "jaccard":
        s = c / (ni + nj - c)
    elif similarity == "lift":
        s = c * n_orders / (ni * nj)
    elif similarity == "cosine":
        s = c / np.sqrt(ni * nj)
    else:
        raise InputError(f"Unknown pair similarity {similarity!r}.")
    out = sp.csr_matrix((s, cols.copy(), pairs.indptr.copy()), shape=pairs.shape)
    out.has_sorted_indices = pairs.has_sorted_indices
    return out


# Speeds measured on the 2-core development machine, used only to pick the faster of two exact
# ways to compute the same numbers: the fused sparse kernel (recommend/product_top_k.py) does
# ~5.6e8 multiply-adds/s on both cores; OpenBLAS float64 ~3e10 flop/s. Online Retail's
# co-occurrence is a third full, so dense tiles are 8x faster there (1.8 s, not 14 s); a large
# sparse catalogue is the other way round.
SPARSE_PRODUCT_RATE = 5.6e8
DENSE_PRODUCT_RATE = 3e10


def cooccurrence_cosine_top_k(pairs: sp.csr_matrix, k: int, *, progress: bool = False):
    """Top k of the cosine between rows of `pairs` (the seed's similarity).

    Sparse catalogues go to the shared kernel; nearly full ones are multiplied in dense tiles, a
    block of rows at a time, never holding more than BLOCK_CELLS floats densely.
    """
    n = pairs.shape[0]
    degree = np.diff(pairs.indptr).astype(np.float64)
    sparse_seconds = float((degree ** 2).sum()) / SPARSE_PRODUCT_RATE
    dense_seconds = 2.0 * float(n) ** 3 / DENSE_PRODUCT_RATE
    if sparse_seconds <= dense_seconds:
        return cosine_neighbours(pairs, k, progress=progress, desc="Similar products")
    unit = unit_rows(pairs)
    step = max(1, min(n, BLOCK_CELLS // 3 // max(n, 1)))
    parts_i, parts_s = [np.full((0, k), -1, dtype=np.int64)], [np.full((0, k), np.nan)]
    for start in tqdm(range(0, n, step), desc="Similar products", unit="block", disable=not progress):
        stop = min(n, start + step)
        left = unit[start:stop].toarray()
        block = np.empty((stop - start, n))
        for col in range(0, n, step):  # tiles, so the right-hand side is never whole and dense
            block[:, col:col + step] = left @ unit[col:col + step].toarray().T
        block = np.round(block, TIE_DECIMALS)  # ties as the sparse kernel breaks them
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not its own neighbour
        block[block <= 0] = -np.inf  # nothing in common: not similar
        i, s = top_k_rows(block, k)
        pad = k - i.shape[1]
        parts_i.append(np.pad(i, ((0, 0), (0, pad)), constant_values=-1))
        parts_s.append(np.pad(s, ((0, 0), (0, pad)), constant_values=np.nan))
    return np.vstack(parts_i).astype(np.int64), np.vstack(parts_s)


@dataclass
class Neighbours:
    """For every product (row): its k best products, their scores and times bought together."""

    idx: np.ndarray  # (products, k) positions, -1 = none
    score: np.ndarray  # (products, k), NaN where idx == -1
    co_count: np.ndarray  # (products, k) orders holding both, 0 where idx == -1
    n_pairs: int  # product pairs bought together >= min_count times (each pair counted once)


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for many (row, col) at once (0 where nothing is stored)."""
    if rows.size == 0:
        return np.zeros(0, dtype=matrix.dtype)
    return np.asarray(matrix[rows, cols]).ravel()


def top_similar(orders: sp.csr_matrix, *, similarity: str = DEFAULT_SIMILARITY, k: int = DEFAULT_K,
                min_count: int = DEFAULT_MIN_COUNT, progress: bool = False) -> Neighbours:
    """The k most similar products of every product, from a binary orders x products matrix."""
    if similarity not in SIMILARITIES:
        raise InputError(f"--similarity must be one of {', '.join(SIMILARITIES)}, not {similarity!r}.")
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise InputError(f"k must be a whole number of at least 1, not {k!r}.")
    if isinstance(min_count, bool) or int(min_count) != min_count or min_count < 1:
        raise InputError(f"The minimum co-occurrence count must be a whole number of at least 1, not {min_count!r}.")
    counts = cooccurrence(orders)
    per_item = counts.diagonal().astype(np.int64)
    pairs = pair_counts(counts, int(min_count))
    if similarity == "cooccurrence-cosine":
        idx, score = cooccurrence_cosine_top_k(pairs, k, progress=progress)
    else:
        sim = pair_similarity(pairs, per_item, orders.shape[0], similarity)
        idx, score = top_k_sparse_rows(sim, k)
    rows, ranks = np.nonzero(idx >= 0)
    co = np.zeros(idx.shape, dtype=np.int64)
    co[rows, ranks] = lookup(counts, rows, idx[rows, ranks])
    return Neighbours(idx, score, co, int(pairs.nnz // 2))


# ----------------------------------------------------------------------------------- build


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


def same_category_validation(idx: np.ndarray, categories: np.ndarray, popularity: np.ndarray,
                             k: int) -> pd.DataFrame:
    """The seed's check, per category: share of products whose best recommendation (top1) and
    share of recommendations in the top k (topk) that are in the product's own category.

    Scored over the products that have recommendations, next to what the same products would
    get from random recommendations (expected value: (n_c - 1) / (N - 1), N = all products)
    and from the k most popular other products.
    """
    n = len(categories)
    has = idx[:, 0] >= 0
    same = np.zeros(idx.shape, dtype=bool)
    rows, ranks = np.nonzero(idx >= 0)
    same[rows, ranks] = categories[idx[rows, ranks]] == categories[rows]
    listed = (idx >= 0).sum(axis=1)
    top1 = same[:, 0].astype(float)
    topk = np.divide(same.sum(axis=1), listed, out=np.zeros(n), where=listed > 0)
    # Most popular other products (ties by position), the same list for everyone but themselves.
    ranking = np.lexsort((np.arange(n), -popularity))[: k + 1]
    pop_same = np.zeros((n, k), dtype=bool)
    head = ranking[:k]
    pop_same[:, : head.size] = categories[head][None, :] == categories[:, None]
    for p in head:  # the few best sellers themselves get the next one instead
        others = ranking[ranking != p][:k]
        pop_same[p] = False
        pop_same[p, : others.size] = categories[others] == categories[p]
    width = min(k, max(n - 1, 1))
    sizes = pd.Series(categories).value_counts()
    random_share = (sizes.reindex(categories).to_numpy() - 1) / max(n - 1, 1)
    frame = pd.DataFrame({"category": categories, "has": has, "top1": top1, "topk": topk,
                          "pop1": pop_same[:, 0], "popk": pop_same.sum(axis=1) / width,
                          "random": random_share})
    scored = frame[frame["has"]]

    def summary(group: pd.DataFrame, name: str, products: int) -> dict:
        return {"category": name, "products": products, "with_recommendations": len(group),
                "top1_same": group["top1"].mean(), "topk_same": group["topk"].mean(),
                "random_top1": group["random"].mean(), "random_topk": group["random"].mean(),
                "popular_top1": group["pop1"].mean(), "popular_topk": group["popk"].mean()}

    out = [summary(scored[scored["category"] == c], str(c), int(sizes[c])) for c in sorted(sizes.index)]
    out.append(summary(scored, "(all)", n))
    table = pd.DataFrame(out)
    num = [c for c in table.columns if c.endswith(("_same", "_top1", "_topk"))]
    table[num] = table[num].astype(float).round(4)
    return table


def build_similar_products(lines: pd.DataFrame, columns: OrderColumns, *, similarity: str = DEFAULT_SIMILARITY,
                           k: int = DEFAULT_K, min_count: int = DEFAULT_MIN_COUNT,
                           progress: bool = False) -> SimilarProducts:
    """Top-k similar products for every product in the order lines, the product table and the
    same-category validation (when category columns are given)."""
    started = time.perf_counter()
    missing = [c for c in columns.needed() if c not in lines.columns and c != columns.date]
    if missing:
        raise InputError(f"The order lines lack column(s) {', '.join(missing)}.")
    inter = interaction_matrix(lines, columns.order, columns.item)
    if inter.shape[1] < 2:
        raise InputError("Need at least two different products to find similar ones.")
    found = top_similar(inter.matrix, similarity=similarity, k=k, min_count=min_count, progress=progress)
    products = product_table(lines, columns, inter)
    rows, ranks = np.nonzero(found.idx >= 0)
    items = np.asarray(inter.col_ids, dtype=object)
    neighbours = pd.DataFrame({
        "item": items[rows], "rank": ranks + 1, "similar_item": items[found.idx[rows, ranks]],
        "score": found.score[rows, ranks].round(6), "co_count": found.co_count[rows, ranks],
    })
    validation = None
    if columns.categories:
        parts = []
        for col in columns.categories:
            v = same_category_validation(found.idx, products[col].to_numpy(), products["orders"].to_numpy(), k)
            parts.append(v.assign(level=col)[["level", *v.columns]])
        validation = pd.concat(parts, ignore_index=True)
    sizes = np.diff(inter.matrix.indptr)
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "similarity": similarity, "k": int(k),
        "min_count": int(min_count),
        "columns": {"order": columns.order, "item": columns.item, "name": columns.name,
                    "categories": list(columns.categories)},
        "cleaning": columns.clean, "order_lines": int(len(lines)), "orders": int(inter.shape[0]),
        "orders_with_2_or_more_products": int((sizes >= 2).sum()), "products": int(inter.shape[1]),
        "products_with_similar": int((found.idx[:, 0] >= 0).sum()), "pairs_bought_together": found.n_pairs,
        "validation": (validation[validation["category"] == "(all)"].drop(columns="category")
                       .to_dict(orient="records") if validation is not None else None),
        "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "scikit-learn"), "created": utc_now(),
    }
    return SimilarProducts(neighbours, products, validation, manifest)


# ----------------------------------------------------------------------------------- artifact

FILES = ("similar_products.csv", "similar_products.json", "products.csv", "manifest.json")


def json_text(lists: dict[str, list[str]]) -> str:
    """{item: [ids]} as JSON with one product per line: valid JSON, and readable in a diff."""
    body = ",\n".join(f" {json.dumps(key, ensure_ascii=False)}: {json.dumps(ids, ensure_ascii=False)}"
                       for key, ids in lists.items())
    return "{\n" + body + "\n}\n" if body else "{}\n"


def write_similar_products(result: SimilarProducts, out: Path, inputs: dict | None = None) -> Path:
    """The artifact folder, written beside its final place and swapped in whole."""
    with atomic_dir(Path(out)) as tmp:
        result.neighbours.to_csv(tmp / "similar_products.csv", index=False)
        (tmp / "similar_products.json").write_text(json_text(result.as_json()), encoding="utf-8")
        result.products.to_csv(tmp / "products.csv", index=False)
        if result.validation is not None:
            result.validation.to_csv(tmp / "validation.csv", index=False)
        write_json_atomic(tmp / "manifest.json", {**result.manifest, "inputs": inputs or {}})
    return Path(out)


def load_similar_products(folder: Path) -> SimilarProducts:
    """Read an artifact folder back (ids stay text); a missing or partial one is an ArtifactError."""
    folder = Path(folder)
    manifest = read_manifest(folder, kind=KIND)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{folder} was written in format {manifest.get('format_version')}, "
                            f"this code reads {FORMAT_VERSION}; rebuild it.")
    try:
        neighbours = pd.read_csv(folder / "similar_products.csv", dtype={"item": str, "similar_item": str},
                                 keep_default_na=False)
        products = pd.read_csv(folder / "products.csv", dtype=str, keep_default_na=False)
        validation = (pd.read_csv(folder / "validation.csv", dtype={"level": str, "category": str},
                                  keep_default_na=False)
                      if (folder / "validation.csv").is_file() else None)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder} is incomplete or unreadable ({exc}); rebuild it.") from exc
    products["orders"] = products["orders"].astype(np.int64)
    return SimilarProducts(neighbours, products, validation, manifest)


def build_demo(name: str, *, write: bool = True, progress: bool = False) -> SimilarProducts:
    """Build a demo set with the defaults (and write its artifact, unless write=False)."""
    if name not in DEMO_SETS:
        raise InputError(f"Unknown demo data set {name!r}; choose one of {', '.join(DEMO_SETS)}.")
    demo = DEMO_SETS[name]
    result = build_similar_products(read_order_lines(demo.path, demo.columns), demo.columns, progress=progress)
    if write:
        write_similar_products(result, demo_artifact_dir(name), {"orders": str(demo.path), "demo": name})
    return result


# ----------------------------------------------------------------------------------- query


def find_products(products: pd.DataFrame, text: str, limit: int = 50) -> pd.DataFrame:
    """Products whose name or id contains `text` (case-insensitive), most ordered first."""
    text = (text or "").strip().casefold()
    if not text:
        return products.iloc[0:0]
    hay = (products["name"].astype(str) + " " + products["item"].astype(str)).str.casefold()
    hits = products[hay.str.contains(text, regex=False)]
    return hits.sort_values(["orders", "name"], ascending=[False, True], kind="stable").head(limit)


def similar_to(result: SimilarProducts, item: str, k: int | None = None) -> pd.DataFrame:
    """A product's similar products, best first: rank, similar_item, name, score, co_count and categories."""
    catalogue = result.products.set_index("item")
    item = str(item)
    if item not in catalogue.index:
        raise InputError(f"Unknown product id {item!r}.")
    rows = result.neighbours[result.neighbours["item"] == item].sort_values("rank")
    rows = rows.head(k) if k else rows
    cats = [c for c in result.manifest.get("columns", {}).get("categories", []) if c in catalogue.columns]
    info = catalogue.loc[rows["similar_item"], ["name", *cats]].reset_index(drop=True)
    return pd.concat([rows[["rank", "similar_item", "score", "co_count"]].reset_index(drop=True), info], axis=1)
