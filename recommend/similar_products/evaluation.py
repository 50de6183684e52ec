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
import scipy.sparse as sp
from tqdm import tqdm

from recommend.core.evaluate import (evaluate, popular_recommendations, popularity_ranking, random_recommendations,
                                time_split)
from recommend.core import ease
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


def ease_recommendations(model: ease.Ease, items: pd.Index, queries: dict, k: int) -> dict:
    """{order: k products}: the query's products times EASE's weights, query left out."""
    keys = list(queries)
    rows, cols = [], []
    for r, key in enumerate(keys):
        pos = items.get_indexer(queries[key])
        pos = pos[pos >= 0]
        rows += [r] * len(pos)
        cols += list(pos)
    query = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(keys), len(items)))
    scores = ease.scores(model, query)
    where = {int(c): i for i, c in enumerate(model.kept)}
    result = {}
    for r, key in enumerate(keys):
        row = scores[r]
        own = [where[c] for c in query.indices[query.indptr[r]:query.indptr[r + 1]] if c in where]
        if not own:
            result[key] = []
            continue
        row[own] = -np.inf
        top = np.argpartition(-row, k)[:k]
        top = top[np.lexsort((top, -row[top]))]
        result[key] = list(items[model.kept[top]])
    return result


def tuned_ease(train: pd.DataFrame, columns: OrderColumns, lambdas=ease.LAMBDAS, seed: int = 0,
               valid_share: float = 0.2) -> tuple[float, dict]:
    """EASE's λ by HitRate@10 on the last `valid_share` of the training orders (hide one product,
    recommend it back), fitted on the rest: the test orders are never looked at."""
    fit_part, valid = time_split(train, columns.date, test_share=valid_share, group_col=columns.order)
    inter = interaction_matrix(fit_part, columns.order, columns.item)
    queries, hidden = leave_one_out(valid, columns.order, columns.item, inter.col_ids, seed)

    def hit_rate(model: ease.Ease) -> float:
        return evaluate(ease_recommendations(model, inter.col_ids, queries, 10), hidden, (10,),
                        inter.shape[1])["HitRate@10"]

    return ease.tune_lambda(inter.matrix, hit_rate, lambdas)


def evaluate_similar_products(lines: pd.DataFrame, columns: OrderColumns, *, similarities=SIMILARITIES,
                              min_counts=(1, 2, 3), ks=(5, 10), test_share: float = 0.2, seed: int = 0,
                              with_ease: bool = False, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """The evaluation table (one row per similarity and minimum count, plus popularity, plus EASE
    with λ tuned on a validation split of the training orders when `with_ease`) and split facts."""
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
    facts_ease = {}
    if with_ease:
        best, by_lambda = tuned_ease(train, columns, seed=seed)
        model = ease.fit(inter.matrix, best)
        recs = ease_recommendations(model, inter.col_ids, queries, max(ks))
        rows[("ease", f"λ={best:g}")] = {**evaluate(recs, hidden, ks, catalog),
                                         "answered": sum(1 for key in hidden if recs.get(key)) / max(len(hidden), 1),
                                         "build_s": round(model.seconds, 2)}
        facts_ease = {"ease_lambda": best, "ease_validation_hitrate10": by_lambda, "ease_items": len(model.kept)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["similarity", "min_count"])
    table["users"] = table["users"].astype(int)
    facts = {
        "train_orders": int(train[columns.order].nunique()), "test_orders": int(test[columns.order].nunique()),
        "test_cut": str(pd.to_datetime(test[columns.date]).min()), "queries": len(queries),
        "train_products": int(catalog), **facts_ease,
    }
    return table, facts
