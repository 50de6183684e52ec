"""Similar customers: user-user cosine on the customer x product purchase matrix, and what the
nearest customers bought that this one has not.

Build: purchases -> sparse customer x product matrix (binary as the seed, log quantity, or
TF-IDF weighted) -> unit rows -> each customer's k nearest by sparse products, a block of
customers at a time (never a dense customers x customers matrix) -> recommendations scored by
sum over the k neighbours of similarity x bought, minus what the customer already has.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommend.artifacts import atomic_dir, library_versions, read_manifest, utc_now, write_json_atomic
from recommend.cli import InputError
from recommend.interactions import Interactions, interaction_matrix
from recommend.online_retail import clean_online_retail
from recommend.cosine_neighbours import cosine_top_k
from recommend.product_top_k import TopK, product_top_k

KIND = "similar_customers"
# Both chosen by bench/evaluate_similar_customers.py (table in the README): binary purchases
# (the seed's) beat log-quantity and TF-IDF weights, and 30 neighbours beat 10 (NDCG@10 0.110
# against 0.091) while 50 adds little and narrows coverage.
DEFAULT_NEIGHBOURS = 30
DEFAULT_RECOMMENDATIONS = 10
DEFAULT_WEIGHTING = "binary"
WEIGHTINGS = ("binary", "log-quantity", "tfidf")


@dataclass(frozen=True)
class PurchaseColumns:
    customer: str = "CustomerID"
    item: str = "StockCode"
    name: str | None = "Description"
    quantity: str | None = "Quantity"
    invoice: str | None = "InvoiceNo"
    date: str | None = "InvoiceDate"


def read_purchases(path: Path, cols: PurchaseColumns = PurchaseColumns(), clean: bool = True) -> pd.DataFrame:
    """Purchase lines with ids as text; Online Retail's rules applied when `clean`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Purchases file {path} not found.")
    try:
        table = pd.read_csv(path, dtype={cols.customer: str, cols.item: str}, encoding_errors="replace")
    except Exception as exc:
        raise InputError(f"Cannot read purchases file {path}: {exc}") from exc
    wanted = [c for c in (cols.customer, cols.item, cols.name, cols.quantity) if c]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise InputError(f"{path} lacks column(s) {', '.join(missing)}; found {', '.join(map(str, table.columns))}. "
                         "Name yours with --customer-col, --item-col, --name-col, --quantity-col.")
    if clean and cols.invoice and cols.invoice in table.columns:
        table = clean_online_retail(table, require_customer=True, invoice_col=cols.invoice,
                                    stock_col=cols.item, description_col=cols.name,
                                    quantity_col=cols.quantity or "Quantity",
                                    customer_col=cols.customer).lines
    table = table.dropna(subset=[cols.customer, cols.item])
    table[cols.customer] = table[cols.customer].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    if table.empty:
        raise InputError(f"No purchases left in {path} after dropping rows without a customer or product.")
    return table


def customer_matrix(purchases: pd.DataFrame, cols: PurchaseColumns, weighting: str) -> Interactions:
    """Customers x products; cells weighted as chosen (see WEIGHTINGS)."""
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}.")
    if weighting == "log-quantity" and cols.quantity:
        built = interaction_matrix(purchases, cols.customer, cols.item, cols.quantity, binary=False)
        built.matrix.data = np.log1p(np.maximum(built.matrix.data, 0)).astype(np.float32)
        return built
    built = interaction_matrix(purchases, cols.customer, cols.item)
    if weighting == "tfidf":
        n = built.shape[0]
        idf = np.log((1 + n) / (1 + built.col_counts())) + 1  # scikit-learn's smooth idf
        built.matrix.data = (built.matrix.data * idf[built.matrix.indices]).astype(np.float32)
    return built


def nearest_customers(matrix: sp.csr_matrix, k: int, *, progress: bool = False) -> TopK:
    """Each customer's k most cosine-similar other customers: indices, similarities and
    (as counts) the number of products each pair shares."""
    return cosine_top_k(matrix, k, progress=progress, desc="Similar customers")


def recommend_from_neighbours(bought: sp.csr_matrix, near: TopK, n: int, *, progress: bool = False) -> TopK:
    """Score = sum over a customer's neighbours of similarity x (neighbour bought it); items the
    customer has are left out. Returns items, scores and (as counts) how many neighbours bought
    each, every one (customers, n)."""
    customers = bought.shape[0]
    rows = np.repeat(np.arange(customers), near.indices.shape[1])
    ok = near.indices.ravel() >= 0
    weights = sp.csr_matrix((near.scores.ravel()[ok], (rows[ok], near.indices.ravel()[ok])),
                            shape=(customers, customers))
    binary = bought.copy()
    binary.data[:] = 1
    return product_top_k(weights, binary, n, exclude=binary, progress=progress, desc="Recommendations")


@dataclass
class SimilarCustomers:
    neighbours: pd.DataFrame  # customer, rank, neighbour, similarity, shared_items
    recommendations: pd.DataFrame  # customer, rank, item, name, score, support_count
    names: pd.Series  # item -> description
    manifest: dict


def build_similar_customers(purchases: pd.DataFrame, cols: PurchaseColumns = PurchaseColumns(), *,
                            k: int = DEFAULT_NEIGHBOURS, n: int = DEFAULT_RECOMMENDATIONS,
                            weighting: str = DEFAULT_WEIGHTING, progress: bool = False) -> SimilarCustomers:
    if k < 1 or n < 1:
        raise InputError("-k and the number of recommendations must be at least 1.")
    started = time.perf_counter()
    built = customer_matrix(purchases, cols, weighting)
    near = nearest_customers(built.matrix, k, progress=progress)
    rows, ranks = np.nonzero(near.indices >= 0)
    partners = near.indices[rows, ranks]
    customers = np.asarray(built.row_ids)
    neighbours = pd.DataFrame({"customer": customers[rows], "rank": ranks + 1, "neighbour": customers[partners],
                               "similarity": near.scores[rows, ranks].round(6),
                               "shared_items": near.counts[rows, ranks]})
    recommended = recommend_from_neighbours(built.matrix, near, n, progress=progress)
    items_idx = recommended.indices
    r, c = np.nonzero(items_idx >= 0)
    products = np.asarray(built.col_ids)
    names = (purchases.drop_duplicates(cols.item).set_index(cols.item)[cols.name]
             if cols.name and cols.name in purchases.columns else pd.Series(dtype=object))
    recs = pd.DataFrame({"customer": customers[r], "rank": c + 1, "item": products[items_idx[r, c]],
                         "score": recommended.scores[r, c].round(6),
                         "support_count": recommended.counts[r, c]})
    recs.insert(3, "name", recs["item"].map(names))
    manifest = {
        "kind": KIND, "format_version": 1, "k": k, "recommendations": n, "weighting": weighting,
        "similarity": "cosine between customers' rows of the customer x product matrix",
        "customers": int(built.shape[0]), "products": int(built.shape[1]), "purchase_lines": int(len(purchases)),
        "columns": cols.__dict__, "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "scikit-learn"), "created": utc_now(),
    }
    return SimilarCustomers(neighbours, recs, names, manifest)


def write_similar_customers(result: SimilarCustomers, out: Path, sources: dict | None = None) -> Path:
    with atomic_dir(Path(out)) as tmp:
        result.neighbours.to_csv(tmp / "neighbours.csv", index=False)
        result.recommendations.to_csv(tmp / "recommendations.csv", index=False)
        write_json_atomic(tmp / "manifest.json", {**result.manifest, "inputs": sources or {}})
    return Path(out)


def load_similar_customers(folder: Path) -> SimilarCustomers:
    manifest = read_manifest(folder, kind=KIND)
    folder = Path(folder)
    recs = pd.read_csv(folder / "recommendations.csv", dtype={"customer": str, "item": str})
    return SimilarCustomers(pd.read_csv(folder / "neighbours.csv", dtype={"customer": str, "neighbour": str}),
                            recs, recs.drop_duplicates("item").set_index("item")["name"], manifest)


def answer_for(result: SimilarCustomers, customer: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(neighbours, recommendations with a reason) of one customer; a clear error if unknown."""
    customer = str(customer).strip().removesuffix(".0")
    near = result.neighbours[result.neighbours["customer"] == customer]
    if near.empty:
        known = result.neighbours["customer"]
        if not (known == customer).any() and customer not in set(result.recommendations["customer"]):
            raise KeyError(f"unknown customer {customer!r} (ids look like {', '.join(known.drop_duplicates().iloc[:3])})")
    recs = result.recommendations[result.recommendations["customer"] == customer].copy()
    k = result.manifest["k"]
    recs["why"] = [f"bought by {s} of your {k} nearest customers" for s in recs["support_count"]]
    return near.reset_index(drop=True), recs.reset_index(drop=True)
