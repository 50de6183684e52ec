"""Offline evaluation of similar-customer recommendations (metrics from recommend.core.evaluate).

Split by time: purchases before the cut train, purchases on or after it test, for customers
present in both; relevant = the products a customer bought in the test period and never before
(a recommender never proposes what the customer already has). Compared: popularity, user-user
cosine with each weighting and neighbour count, and item-item (similar products) scoring.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recommend.core.evaluate import evaluate, popular_recommendations, popularity_ranking, relevant_sets
from recommend.core.interactions import interaction_matrix
from recommend.core.sparse_topk import product_top_k
from recommend.similar_customers.model import (
    PurchaseColumns, customer_matrix, nearest_customers, recommend_from_neighbours,
)
from recommend.similar_products.similarity import top_similar

COLS = PurchaseColumns()


def split_by_date(purchases: pd.DataFrame, cut: str = "2011-09-01", cols: PurchaseColumns = COLS):
    """(train, relevant): train lines before `cut`; per customer present on both sides, the
    products first bought on or after it."""
    when = pd.to_datetime(purchases[cols.date])
    train, test = purchases[when < cut], purchases[when >= cut]
    owned = relevant_sets(train, cols.customer, cols.item)
    later = relevant_sets(test, cols.customer, cols.item)
    relevant = {c: items - owned[c] for c, items in later.items() if c in owned}
    return train, {c: items for c, items in relevant.items() if items}


def _as_lists(built, items: np.ndarray, customers) -> dict:
    ids = np.asarray(built.col_ids)
    pos = built.row_positions(customers)
    return {c: [ids[j] for j in items[p] if j >= 0] if p >= 0 else [] for c, p in zip(customers, pos)}


def user_user(train: pd.DataFrame, customers, *, weighting: str, k: int, n: int = 10) -> dict:
    built = customer_matrix(train, COLS, weighting)
    near = nearest_customers(built.matrix, k)
    return _as_lists(built, recommend_from_neighbours(built.matrix, near, n).indices, customers)


def item_item(train: pd.DataFrame, customers, *, neighbours: int = 50, n: int = 10) -> dict:
    """Score = sum of the similarities (plain item cosine over invoices) between a product and
    the products the customer bought, over each bought product's nearest `neighbours`."""
    bought = customer_matrix(train, COLS, "binary")
    orders = interaction_matrix(train, COLS.invoice, COLS.item, col_ids=bought.col_ids)
    near, _ = top_similar(orders.matrix, similarity="cosine", k=neighbours)
    weights = near.as_matrix(bought.shape[1])
    pos = bought.row_positions(customers)
    found = pos >= 0
    history = bought.matrix[pos[found]]
    best = product_top_k(history, weights, n, exclude=history).indices
    ids = np.asarray(bought.col_ids)
    ranked = iter(best)
    return {c: ([ids[j] for j in next(ranked) if j >= 0] if ok_ else []) for c, ok_ in zip(customers, found)}


def evaluate_customers(purchases: pd.DataFrame, *, cut: str = "2011-09-01", k: int = 10,
                       grid: list[dict] | None = None) -> pd.DataFrame:
    train, relevant = split_by_date(purchases, cut)
    customers = sorted(relevant)
    catalog = train[COLS.item].nunique()
    seen = relevant_sets(train, COLS.customer, COLS.item)
    results = {"popularity": evaluate(popular_recommendations(
        popularity_ranking(train.drop_duplicates([COLS.customer, COLS.item])[COLS.item]),
        {c: seen[c] for c in customers}, k), relevant, k, catalog)}
    for g in grid or [{"weighting": "binary", "k": 10}]:
        results[f"user-user {g['weighting']} k={g['k']}"] = evaluate(
            user_user(train, customers, n=k, **g), relevant, k, catalog)
    results["item-item cosine (50 neighbours)"] = evaluate(item_item(train, customers, n=k), relevant, k, catalog)
    return pd.DataFrame.from_dict(results, orient="index")
