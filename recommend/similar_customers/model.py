"""Similar customers: user-user cosine on the customer x product purchase matrix, and what to
recommend to each customer.

Build: purchases -> sparse customer x product matrix (binary as the original notebook, log
quantity, or TF-IDF weighted) -> each customer's k nearest by the fused sparse kernel
(recommend.core.sparse_topk: never a customers x customers matrix). Recommendations, leaving out
what the customer already has, come from one of MODELS:
  ease       the customer's products times EASE's item-item weights (recommend/core/ease.py),
             each explained by the customer's products that add most to it
  user-user  the sum over the k neighbours of similarity x bought (the original notebook's)
The Spark engine (spark.py, `--engine spark`) finds the same answers at scale; both hand them to
`assemble`, which makes the result and its manifest, so both write the same artifact.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.artifacts import library_versions, loading, utc_now, write_tables
from common.errors import InputError, require_columns
from common.imports import module
from common.shop_tables import OrderColumns
from common.tables import read_csv
from common.text_match import Matcher
from common.topk import TopK, check_k
from recommend.core import ease
from recommend.core.interactions import Interactions, interaction_matrix
from recommend.core.models import Model, Models
from recommend.core.sparse_topk import cosine_top_k, product_top_k
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.datasets.online_retail import clean_online_retail, customer_ids

KIND = "similar_customers"
FORMAT_VERSION = 2  # 2: recommendations say `because` (EASE), products.csv names every product
REBUILD = "python -m recommend similar-customers --purchases PURCHASES --out {folder}"
# Both chosen by bench/evaluate_similar_customers.py (table in docs/recommenders.md): binary purchases
# (the original notebook's) beat log-quantity and TF-IDF weights, and 30 neighbours beat 10 (NDCG@10 0.110
# against 0.091) while 50 adds little and narrows coverage.
DEFAULT_NEIGHBOURS = 30
DEFAULT_RECOMMENDATIONS = 10
DEFAULT_WEIGHTING = "binary"
WEIGHTINGS = ("binary", "log-quantity", "tfidf")
# Both chosen by bench/evaluate_similar_customers.py (table in docs/recommenders.md): EASE's NDCG@10 beats
# the 30 nearest customers' by more than 10%, with λ chosen on a validation cut of the training months.
DEFAULT_MODEL = "ease"
EARLIER_DEFAULT = "user-user"  # the original notebook's: what "How good is this?" compares the default with
EASE_LAMBDA = 1000.0
EXPLAIN = 3  # products named in a recommendation's reason
NAME_THEM = "Name yours with --customer-col, --item-col, --name-col, --quantity-col."


def read_purchases(source: Path | pd.DataFrame, cols: OrderColumns = ONLINE_RETAIL,
                   clean: bool = True) -> pd.DataFrame:
    """Purchase lines with ids as text (from a CSV, or a table already read as text, e.g. from a
    database); Online Retail's rules applied when `clean`."""
    wanted = [c for c in (cols.customer, cols.item, cols.name, cols.quantity) if c]
    if isinstance(source, pd.DataFrame):
        path = source.attrs.get("name", "the orders")
        require_columns(source.columns, wanted, path, NAME_THEM, shown=len(source.columns))
        table = source.copy()
        if cols.quantity:
            table[cols.quantity] = pd.to_numeric(table[cols.quantity], errors="coerce")
        table = table.replace({cols.customer: {"": None}, cols.item: {"": None}})
    else:
        path = source
        table = read_csv(source, what="Purchases", required=wanted, dtype={cols.customer: str, cols.item: str},
                         hint=NAME_THEM)
    if clean and cols.order and cols.order in table.columns:
        table = clean_online_retail(table, cols, require_customer=True).lines
    table = table.dropna(subset=[cols.customer, cols.item])
    table[cols.customer] = customer_ids(table[cols.customer]).astype(object)
    if table.empty:
        raise InputError(f"No purchases left in {path} after dropping rows without a customer or product.")
    return table


def customer_matrix(purchases: pd.DataFrame, cols: OrderColumns, weighting: str) -> Interactions:
    """Customers x products; cells weighted as chosen (see WEIGHTINGS)."""
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}.")
    if weighting == "log-quantity" and cols.quantity:
        built = interaction_matrix(purchases, cols.customer, cols.item, cols.quantity, binary=False)
        built.matrix.data = np.log1p(np.maximum(built.matrix.data, 0)).astype(np.float32)
        return built
    built = interaction_matrix(purchases, cols.customer, cols.item)
    if weighting == "tfidf":  # smooth idf, no row norm (rows are made unit length for the cosine anyway)
        # Only this weighting pays scikit-learn's import (common.imports: never hidden by a Keras import).
        TfidfTransformer = module("sklearn.feature_extraction.text").TfidfTransformer

        weighted = TfidfTransformer(norm=None, smooth_idf=True).fit_transform(built.matrix)
        return replace(built, matrix=sp.csr_matrix(weighted, dtype=np.float32))
    return built


def nearest_customers(matrix: sp.csr_matrix, k: int, *, progress: bool = False) -> TopK:
    """Each customer's k most cosine-similar other customers: indices, similarities and
    (as counts) the number of products each pair shares."""
    return cosine_top_k(matrix, k, progress=progress, desc="Similar customers")


def recommend_from_neighbours(bought: sp.csr_matrix, near: TopK, n: int, *, rows: np.ndarray | None = None,
                              progress: bool = False) -> TopK:
    """Score = sum over a customer's neighbours of similarity x (neighbour bought it); items the
    customer has are left out. Returns items, scores and (as counts) how many neighbours bought
    each, every one (customers, n); for the customers at `rows` only when given."""
    weights = near.as_matrix(bought.shape[0])
    binary = bought.copy()
    binary.data[:] = 1
    if rows is not None:
        weights = weights[rows]
    return product_top_k(weights, binary, n, exclude=binary if rows is None else binary[rows], progress=progress,
                         desc="Recommendations")


def recommend_from_ease(bought: sp.csr_matrix, n: int, lam: float = EASE_LAMBDA, *,
                        max_items: int | None = None) -> tuple[ease.Recommended, ease.Ease]:
    """EASE fitted on the customers x products matrix, then each customer's products times its
    weights; `because` holds the customer's products that add most to each recommendation."""
    model = ease.fit(bought, lam, max_items=max_items)
    return ease.recommend(model, bought, n, explain=EXPLAIN), model


@dataclass
class SimilarCustomers:
    neighbours: pd.DataFrame  # customer, rank, neighbour, similarity, shared_items
    recommendations: pd.DataFrame  # customer, rank, item, name, score, support_count, because
    names: pd.Series  # item -> description
    manifest: dict


def check_model(model: str) -> None:
    MODELS.check(model)


def build(purchases: pd.DataFrame, cols: OrderColumns = ONLINE_RETAIL, *, k: int = DEFAULT_NEIGHBOURS,
          n: int = DEFAULT_RECOMMENDATIONS, weighting: str = DEFAULT_WEIGHTING,
          model: str = DEFAULT_MODEL, ease_lambda: float = EASE_LAMBDA,
          progress: bool = False) -> SimilarCustomers:
    """Each customer's k nearest customers and n recommended products (see MODELS)."""
    k, n = check_k(k), check_k(n)
    check_model(model)
    started = time.perf_counter()
    built = customer_matrix(purchases, cols, weighting)
    near = nearest_customers(built.matrix, k, progress=progress)
    rows, ranks = near.entries()
    partners = near.indices[rows, ranks]
    customers = np.asarray(built.row_ids)
    neighbours = pd.DataFrame({"customer": customers[rows], "rank": ranks + 1, "neighbour": customers[partners],
                               "similarity": near.scores[rows, ranks], "shared_items": near.counts[rows, ranks]})
    products = np.asarray(built.col_ids)
    recommended, because, facts = MODELS[model].fit(built.matrix, near, n, ease_lambda=ease_lambda,
                                                    progress=progress)
    items_idx = recommended.indices
    r, c = recommended.entries()
    recs = pd.DataFrame({"customer": customers[r], "rank": c + 1, "item": products[items_idx[r, c]],
                         "score": recommended.scores[r, c], "support_count": recommended.counts[r, c],
                         "because": [[str(products[j]) for j in row if j >= 0] for row in because[r, c]]})
    return assemble(neighbours, recs, product_names(purchases, cols), cols, k=k, n=n, weighting=weighting,
                    model=model, facts=facts, customers=int(built.shape[0]), products=int(built.shape[1]),
                    purchase_lines=int(len(purchases)), read=dict(purchases.attrs.get("read", {})), started=started)


# --- the models, by name -----------------------------------------------------------------------
# fit(bought: customers x products CSR, near: each customer's nearest customers (TopK), n, *,
#     ease_lambda, progress) -> (TopK of each customer's n recommendations, counts = how many of
#     the neighbours bought each; `because`: (customers, n, m) product indices behind each, -1 for
#     none; facts for the manifest). A new model: its fit function and one MODELS.register line.

def _from_neighbours(bought, near, n, *, progress=False, **_):
    return recommend_from_neighbours(bought, near, n, progress=progress), np.full((bought.shape[0], n, 0), -1), {}


def _from_ease(bought, near, n, *, ease_lambda=EASE_LAMBDA, **_):
    found, fitted = recommend_from_ease(bought, n, ease_lambda)
    recommended = found.top
    # Customers whose products are all past EASE's guard get their neighbours' recommendations.
    empty = np.flatnonzero(~recommended.found.any(axis=1) & (np.diff(bought.indptr) > 0))
    if empty.size:
        fallback = recommend_from_neighbours(bought, near, n, rows=empty).padded(n)
        for name in ("indices", "scores", "counts"):
            getattr(recommended, name)[empty] = getattr(fallback, name)
    return recommended, found.because, {"ease": ease_facts(fitted, int(empty.size))}


MODELS = Models("similar_customers")
MODELS.register(Model("ease", "EASE: learned from what is bought together",
                      "EASE's item-item weights times the customer's products", _from_ease, spark=True))
MODELS.register(Model("user-user", "what the nearest customers bought",
                      "what the customer's nearest customers bought, weighted by how alike they are",
                      _from_neighbours, spark=True))


def ease_facts(fitted: ease.Ease, fallback_customers: int) -> dict:
    """What the manifest says of an EASE fit, the same from both engines."""
    return {"lambda": fitted.lam, "products_fitted": int(len(fitted.kept)), "products_past_guard": fitted.dropped,
            "max_items": ease.MAX_ITEMS, "fallback_customers": int(fallback_customers),
            "fit_seconds": round(fitted.seconds, 2)}


def product_names(purchases: pd.DataFrame, cols: OrderColumns) -> pd.Series:
    """item -> name, in the order the products first appear (the first line's name)."""
    if not cols.name or cols.name not in purchases.columns:
        return pd.Series(dtype=object)
    return purchases.drop_duplicates(cols.item).set_index(cols.item)[cols.name]


def assemble(neighbours: pd.DataFrame, recommendations: pd.DataFrame, names: pd.Series, cols: OrderColumns, *,
             k: int, n: int, weighting: str, model: str, facts: dict, customers: int, products: int,
             purchase_lines: int, read: dict, started: float, engine: str = "local", extra: dict | None = None,
             versions: tuple[str, ...] = ()) -> SimilarCustomers:
    """The result and its manifest from the answers however they were found (this process, or
    Spark: recommend/similar_customers/spark.py), so both engines write the same artifact.

    `neighbours`: customer, rank, neighbour, similarity (as ranked), shared_items; `recommendations`:
    customer, rank, item, score (float32 from EASE, as ranked), support_count, because (a list of
    product ids per row); rows in any order (sorted here by customer, then rank)."""
    neighbours = neighbours.sort_values(["customer", "rank"], kind="stable", ignore_index=True)
    neighbours = pd.DataFrame({"customer": neighbours["customer"].to_numpy(),
                               "rank": neighbours["rank"].to_numpy().astype(np.int64),
                               "neighbour": neighbours["neighbour"].to_numpy(),
                               "similarity": neighbours["similarity"].to_numpy().round(6),
                               "shared_items": neighbours["shared_items"].to_numpy()})
    recommendations = recommendations.sort_values(["customer", "rank"], kind="stable", ignore_index=True)
    recs = pd.DataFrame({"customer": recommendations["customer"].to_numpy(),
                         "rank": recommendations["rank"].to_numpy().astype(np.int64),
                         "item": recommendations["item"].to_numpy(),
                         "score": recommendations["score"].to_numpy().round(6),
                         "support_count": recommendations["support_count"].to_numpy(),
                         "because": [json.dumps([str(b) for b in row]) for row in recommendations["because"]]})
    recs.insert(3, "name", recs["item"].map(names))
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "engine": engine, "k": k, "recommendations": n,
        "weighting": weighting, "similarity": "cosine between customers' rows of the customer x product matrix",
        "model": model, **facts, "customers": int(customers), "products": int(products),
        "purchase_lines": int(purchase_lines), "columns": cols.__dict__, "read": read, **(extra or {}),
        "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "numba", *versions), "created": utc_now(),
    }
    return SimilarCustomers(neighbours, recs, names, manifest)


def write(result: SimilarCustomers, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    products = pd.DataFrame({"item": result.names.index.astype(str), "name": result.names.to_numpy()})
    return write_tables(out, KIND, FORMAT_VERSION, {**result.manifest, "inputs": inputs or {}},
                        {"neighbours.csv": result.neighbours, "recommendations.csv": result.recommendations,
                         "products.csv": products}, rebuild or REBUILD)


def load(folder: Path) -> SimilarCustomers:
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        recs = art.table("recommendations.csv", dtype={"customer": str, "item": str, "because": str})
        near = art.table("neighbours.csv", dtype={"customer": str, "neighbour": str})
        products = art.table("products.csv", dtype={"item": str, "name": str})
    return SimilarCustomers(near, recs, products.set_index("item")["name"], art.manifest)


def _customer(result: SimilarCustomers, query: str) -> str:
    """The customer id as the result keys it ("17850.0" is 17850); InputError for one it has never seen."""
    customer = customer_ids(pd.Series([str(query)])).iloc[0]
    known = result.neighbours["customer"]
    if not (known == customer).any() and not (result.recommendations["customer"] == customer).any():
        raise InputError(f"unknown customer {customer!r} (ids look like {', '.join(known.drop_duplicates().iloc[:3])})")
    return customer


def answer(result: SimilarCustomers, query: str, k: int | None = None) -> pd.DataFrame:
    """What to recommend to customer `query`, best first: rank, id (the product), score, name,
    why (the reason in words), because (the customer's products behind it, EASE) and
    support_count (the nearest customers who bought it, user-user). InputError if unknown."""
    k = None if k is None else check_k(k)
    customer = _customer(result, query)
    recs = result.recommendations[result.recommendations["customer"] == customer]
    recs = (recs.head(k) if k else recs).reset_index(drop=True)
    because = [json.loads(b) if isinstance(b, str) and b else [] for b in recs.get("because", [""] * len(recs))]
    return pd.DataFrame({"rank": recs["rank"].to_numpy(), "id": recs["item"].to_numpy(),
                         "score": recs["score"].to_numpy(dtype=float), "name": recs["name"].to_numpy(),
                         "why": [why(result, s, b) for s, b in zip(recs["support_count"], because)],
                         "because": because, "support_count": recs["support_count"].to_numpy()})


def neighbours(result: SimilarCustomers, query: str, k: int | None = None) -> pd.DataFrame:
    """The customers who buy most like customer `query`, best first: rank, id, score (cosine)
    and shared_items (products both bought). Empty for a customer who shares no product."""
    k = None if k is None else check_k(k)
    near = result.neighbours[result.neighbours["customer"] == _customer(result, query)]
    near = (near.head(k) if k else near).reset_index(drop=True)
    return pd.DataFrame({"rank": near["rank"].to_numpy(), "id": near["neighbour"].to_numpy(),
                         "score": near["similarity"].to_numpy(dtype=float),
                         "shared_items": near["shared_items"].to_numpy()})


def why(result: SimilarCustomers, support_count: int, because: list[str]) -> str:
    """A recommendation's reason in words: the customer's products behind it (EASE), or how many of
    the nearest customers bought it (user-user)."""
    if because:
        named = [name if isinstance(name := result.names.get(item), str) and name else item for item in because]
        return "because you bought " + ", ".join(named)
    return f"bought by {support_count} of your {result.manifest['k']} nearest customers"


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
