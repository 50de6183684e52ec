"""Similar customers: user-user cosine on the customer x product purchase matrix, and what the
nearest customers bought that this one has not.

Build: purchases -> sparse customer x product matrix (binary as the original notebook, log
quantity, or TF-IDF weighted) -> each customer's k nearest by the fused sparse kernel
(recommend.core.sparse_topk: never a customers x customers matrix) -> recommendations scored by
the sum over the k neighbours of similarity x bought, leaving out what the customer already has.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.artifacts import library_versions, loading, utc_now, write_tables
from common.errors import InputError
from common.tables import read_csv
from common.text_match import Matcher
from common.topk import TopK, check_k
from recommend.core.interactions import Interactions, interaction_matrix
from recommend.core.sparse_topk import cosine_top_k, product_top_k
from recommend.datasets.online_retail import clean_online_retail, customer_ids

KIND = "similar_customers"
FORMAT_VERSION = 1
REBUILD = "python -m recommend similar-customers --purchases PURCHASES --out {folder}"
# Both chosen by bench/evaluate_similar_customers.py (table in the README): binary purchases
# (the original notebook's) beat log-quantity and TF-IDF weights, and 30 neighbours beat 10 (NDCG@10 0.110
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


def read_purchases(source: Path | pd.DataFrame, cols: PurchaseColumns = PurchaseColumns(),
                   clean: bool = True) -> pd.DataFrame:
    """Purchase lines with ids as text (from a CSV, or a table already read as text, e.g. from a
    database); Online Retail's rules applied when `clean`."""
    wanted = [c for c in (cols.customer, cols.item, cols.name, cols.quantity) if c]
    if isinstance(source, pd.DataFrame):
        path = source.attrs.get("name", "the orders")
        missing = [c for c in wanted if c not in source.columns]
        if missing:
            raise InputError(f"{path} lack column(s) {', '.join(missing)}; found {', '.join(source.columns)}. "
                             "Name yours with --customer-col, --item-col, --name-col, --quantity-col.")
        table = source.copy()
        if cols.quantity:
            table[cols.quantity] = pd.to_numeric(table[cols.quantity], errors="coerce")
        table = table.replace({cols.customer: {"": None}, cols.item: {"": None}})
    else:
        path = source
        table = read_csv(source, what="Purchases", required=wanted, dtype={cols.customer: str, cols.item: str},
                         hint="Name yours with --customer-col, --item-col, --name-col, --quantity-col.")
    if clean and cols.invoice and cols.invoice in table.columns:
        table = clean_online_retail(table, require_customer=True, invoice_col=cols.invoice,
                                    stock_col=cols.item, description_col=cols.name,
                                    quantity_col=cols.quantity or "Quantity",
                                    customer_col=cols.customer).lines
    table = table.dropna(subset=[cols.customer, cols.item])
    table[cols.customer] = customer_ids(table[cols.customer]).astype(object)
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
    if weighting == "tfidf":  # smooth idf, no row norm (rows are made unit length for the cosine anyway)
        from sklearn.feature_extraction.text import TfidfTransformer  # only this weighting pays its import

        weighted = TfidfTransformer(norm=None, smooth_idf=True).fit_transform(built.matrix)
        return replace(built, matrix=sp.csr_matrix(weighted, dtype=np.float32))
    return built


def nearest_customers(matrix: sp.csr_matrix, k: int, *, progress: bool = False) -> TopK:
    """Each customer's k most cosine-similar other customers: indices, similarities and
    (as counts) the number of products each pair shares."""
    return cosine_top_k(matrix, k, progress=progress, desc="Similar customers")


def recommend_from_neighbours(bought: sp.csr_matrix, near: TopK, n: int, *, progress: bool = False) -> TopK:
    """Score = sum over a customer's neighbours of similarity x (neighbour bought it); items the
    customer has are left out. Returns items, scores and (as counts) how many neighbours bought
    each, every one (customers, n)."""
    weights = near.as_matrix(bought.shape[0])
    binary = bought.copy()
    binary.data[:] = 1
    return product_top_k(weights, binary, n, exclude=binary, progress=progress, desc="Recommendations")


@dataclass
class SimilarCustomers:
    neighbours: pd.DataFrame  # customer, rank, neighbour, similarity, shared_items
    recommendations: pd.DataFrame  # customer, rank, item, name, score, support_count
    names: pd.Series  # item -> description
    manifest: dict


def build(purchases: pd.DataFrame, cols: PurchaseColumns = PurchaseColumns(), *, k: int = DEFAULT_NEIGHBOURS,
          n: int = DEFAULT_RECOMMENDATIONS, weighting: str = DEFAULT_WEIGHTING,
          progress: bool = False) -> SimilarCustomers:
    """Each customer's k nearest customers and n recommended products."""
    k, n = check_k(k), check_k(n)
    started = time.perf_counter()
    built = customer_matrix(purchases, cols, weighting)
    near = nearest_customers(built.matrix, k, progress=progress)
    rows, ranks = near.entries()
    partners = near.indices[rows, ranks]
    customers = np.asarray(built.row_ids)
    neighbours = pd.DataFrame({"customer": customers[rows], "rank": ranks + 1, "neighbour": customers[partners],
                               "similarity": near.scores[rows, ranks].round(6),
                               "shared_items": near.counts[rows, ranks]})
    recommended = recommend_from_neighbours(built.matrix, near, n, progress=progress)
    items_idx = recommended.indices
    r, c = recommended.entries()
    products = np.asarray(built.col_ids)
    names = (purchases.drop_duplicates(cols.item).set_index(cols.item)[cols.name]
             if cols.name and cols.name in purchases.columns else pd.Series(dtype=object))
    recs = pd.DataFrame({"customer": customers[r], "rank": c + 1, "item": products[items_idx[r, c]],
                         "score": recommended.scores[r, c].round(6),
                         "support_count": recommended.counts[r, c]})
    recs.insert(3, "name", recs["item"].map(names))
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "k": k, "recommendations": n, "weighting": weighting,
        "similarity": "cosine between customers' rows of the customer x product matrix",
        "customers": int(built.shape[0]), "products": int(built.shape[1]), "purchase_lines": int(len(purchases)),
        "columns": cols.__dict__, "read": dict(purchases.attrs.get("read", {})), "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "numba"), "created": utc_now(),
    }
    return SimilarCustomers(neighbours, recs, names, manifest)


def write(result: SimilarCustomers, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    return write_tables(out, KIND, FORMAT_VERSION, {**result.manifest, "inputs": inputs or {}},
                        {"neighbours.csv": result.neighbours, "recommendations.csv": result.recommendations}, rebuild or REBUILD)


def load(folder: Path) -> SimilarCustomers:
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        recs = art.table("recommendations.csv", dtype={"customer": str, "item": str})
        near = art.table("neighbours.csv", dtype={"customer": str, "neighbour": str})
    return SimilarCustomers(near, recs, recs.drop_duplicates("item").set_index("item")["name"], art.manifest)


def answer(result: SimilarCustomers, customer: str, k: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(neighbours, recommendations with a reason) of one customer, at most k of each; InputError if unknown."""
    k = None if k is None else check_k(k)
    customer = customer_ids(pd.Series([str(customer)])).iloc[0]
    near = result.neighbours[result.neighbours["customer"] == customer]
    if near.empty:
        known = result.neighbours["customer"]
        if not (known == customer).any() and customer not in set(result.recommendations["customer"]):
            raise InputError(f"unknown customer {customer!r} (ids look like {', '.join(known.drop_duplicates().iloc[:3])})")
    recs = result.recommendations[result.recommendations["customer"] == customer].copy()
    nearest = result.manifest["k"]
    recs["why"] = [f"bought by {s} of your {nearest} nearest customers" for s in recs["support_count"]]
    near, recs = near.reset_index(drop=True), recs.reset_index(drop=True)
    return (near.head(k), recs.head(k)) if k else (near, recs)


def find_customers(customers: Sequence[str], query: str, limit: int = 50, popularity: Sequence[float] | None = None,
                   matcher: Matcher | None = None) -> list[str]:
    """Customer ids holding what was typed ("178" finds 17850), or a digit or two off when few
    do (a mistyped "17805" finds 17850), best first; among equals the most popular (pass e.g.
    invoices per customer). Pass `matcher` = Matcher(customers, popularity), built once, to reuse it."""
    ids = [str(c) for c in customers]
    matcher = matcher or Matcher(ids, popularity)
    if len(matcher) != len(ids):
        raise ValueError(f"matcher built for {len(matcher)} customers, got {len(ids)}")
    return [ids[i] for i in matcher.search(query or "", limit)]
