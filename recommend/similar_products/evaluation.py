"""Offline evaluation of similar products: time split, hide one product per test order, recommend it back.

Orders are split by time (the last `test_share` of orders, by date, are the test). Similar-product
lists are built from the training orders only. In each test order holding two or more products
known from training, one product is hidden (drawn at random, seeded) and the rest of the order
is the query: a product's score is the sum of its similarity to every product of the query
(over each query product's `depth` most similar), query products left out. The baselines
recommend the most ordered training products not in the query (popularity), or products drawn
at random (seeded). Metrics come from
recommend.core.evaluate, so every recommender is scored the same way.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from recommend.core.evaluate import (evaluate, popular_recommendations, popularity_ranking, random_recommendations,
                                time_split)
from recommend.core.interactions import interaction_matrix
from common.errors import InputError
from common.topk import TopK
from recommend.similar_products.model import OrderColumns
from recommend.similar_products.similarity import SIMILARITIES, top_similar

DEPTH = 50  # similar products kept per product for scoring baskets; more than k so baskets can mix lists


def leave_one_out(test: pd.DataFrame, order: str, item: str, known, seed: int = 0) -> tuple[dict, dict]:
    """({order: [query products]}, {order: {hidden product}}) for each test order with >= 2 known products."""
    known = set(known)
    rng = np.random.default_rng(seed)
    queries, hidden = {}, {}
    lines = test[test[item].isin(known)].drop_duplicates([order, item])
    for key, products in lines.groupby(order, sort=True)[item]:
        products = sorted(products)
        if len(products) < 2:
            continue
        out = products[int(rng.integers(len(products)))]
        queries[key] = [p for p in products if p != out]
        hidden[key] = {out}
    return queries, hidden


def basket_recommendations(neighbours: TopK, items: pd.Index, queries: dict, k: int) -> dict:
    """{order: k products}: summed similarity over the query products' lists, query left out."""
    result = {}
    for key, basket in queries.items():
        pos = items.get_indexer(basket)
        pos = pos[pos >= 0]
        cand = neighbours.indices[pos].ravel()
        score = neighbours.scores[pos].ravel()
        ok = (cand >= 0) & ~np.isin(cand, pos)
        cand, score = cand[ok], score[ok]
        if cand.size == 0:
            result[key] = []
            continue
        uniq, inverse = np.unique(cand, return_inverse=True)
        total = np.bincount(inverse, weights=score)
        order = np.lexsort((uniq, -total))[:k]  # best summed score first, ties by product position
        result[key] = list(items[uniq[order]])
    return result


def evaluate_similar_products(lines: pd.DataFrame, columns: OrderColumns, *, similarities=SIMILARITIES,
                              min_counts=(1, 2, 3), ks=(5, 10), test_share: float = 0.2, seed: int = 0,
                              progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """The evaluation table (one row per similarity and minimum count, plus popularity) and split facts."""
    if not columns.date:
        raise InputError("The evaluation needs a date column to split orders by time.")
    train, test = time_split(lines, columns.date, test_share=test_share, group_col=columns.order)
    inter = interaction_matrix(train, columns.order, columns.item)
    queries, hidden = leave_one_out(test, columns.order, columns.item, inter.col_ids, seed)
    catalog = inter.shape[1]
    rows = {}
    ranking = popularity_ranking(train.drop_duplicates([columns.order, columns.item])[columns.item])
    popular = popular_recommendations(ranking, queries, max(ks))
    rows[("random", "-")] = {**evaluate(random_recommendations(inter.col_ids, queries, max(ks), seed), hidden, ks,
                                        catalog), "build_s": 0.0}
    rows[("popularity", "-")] = {**evaluate(popular, hidden, ks, catalog), "build_s": 0.0}
    grid = [(s, m) for s in similarities for m in min_counts]
    for similarity, min_count in tqdm(grid, desc="Evaluating", disable=not progress):
        started = time.perf_counter()
        found, _ = top_similar(inter.matrix, similarity=similarity, k=DEPTH, min_count=min_count)
        seconds = time.perf_counter() - started
        recs = basket_recommendations(found, inter.col_ids, queries, max(ks))
        answered = sum(1 for key in hidden if recs.get(key))
        rows[(similarity, min_count)] = {**evaluate(recs, hidden, ks, catalog),
                                         "answered": answered / max(len(hidden), 1), "build_s": round(seconds, 2)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["similarity", "min_count"])
    table["users"] = table["users"].astype(int)
    facts = {
        "train_orders": int(train[columns.order].nunique()), "test_orders": int(test[columns.order].nunique()),
        "test_cut": str(pd.to_datetime(test[columns.date]).min()), "queries": len(queries),
        "train_products": int(catalog),
    }
    return table, facts
