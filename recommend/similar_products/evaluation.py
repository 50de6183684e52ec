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
from typing import Callable

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
from common.shop_tables import OrderColumns
from recommend.similar_products.similarity import SIMILARITIES, top_similar

Step = Callable[[str, float], None]
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
    positions = [items.get_indexer(queries[key]) for key in keys]
    rows = np.repeat(np.arange(len(keys)), [int((p >= 0).sum()) for p in positions])
    cols = np.concatenate([p[p >= 0] for p in positions]) if positions else np.empty(0, dtype=int)
    query = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(keys), len(items)))
    top = ease.recommend(model, query, k).top.indices
    ids = np.asarray(items)
    return {key: list(ids[row[row >= 0]]) for key, row in zip(keys, top)}


def tuned_ease(train: pd.DataFrame, columns: OrderColumns, lambdas=ease.LAMBDAS, seed: int = 0,
               valid_share: float = 0.2) -> tuple[float, dict]:
    """EASE's λ by HitRate@10 on the last `valid_share` of the training orders (hide one product,
    recommend it back), fitted on the rest: the test orders are never looked at. HitRate@10, not
    NDCG: each query hides exactly one product, so the question is whether it comes back at all
    (similar customers and items hold out several relevant products a user and tune on NDCG@10)."""
    fit_part, valid = time_split(train, columns.date, test_share=valid_share, group_col=columns.order)
    inter = interaction_matrix(fit_part, columns.order, columns.item)
    queries, hidden = leave_one_out(valid, columns.order, columns.item, inter.col_ids, seed)
    if not queries:  # no validation order with two known products: keep the model's λ
        from recommend.similar_products.similarity import EASE_LAMBDA

        return EASE_LAMBDA, {}

    def hit_rate(model: ease.Ease) -> float:
        return evaluate(ease_recommendations(model, inter.col_ids, queries, 10), hidden, (10,),
                        inter.shape[1])["HitRate@10"]

    return ease.tune_lambda(inter.matrix, hit_rate, lambdas)


def evaluate_similar_products(lines: pd.DataFrame, columns: OrderColumns, *, similarities=SIMILARITIES,
                              min_counts=(1, 2, 3), ks=(5, 10), test_share: float = 0.2, seed: int = 0,
                              with_ease: bool = False, progress: bool = False,
                              step: Step | None = None) -> tuple[pd.DataFrame, dict]:
    """The evaluation table and split facts. Rows: random, popularity, each similarity and minimum
    count (each product's DEPTH best summed over the basket), and with `with_ease` EASE with λ tuned
    on a validation split of the training orders, twice: its lists on the pairs bought together (what
    `--similarity ease` builds, scored like the similarities) and the full model (the basket times
    all its weights). `step(what, share done)` is told as each one starts."""
    if not columns.date:
        raise InputError("The evaluation needs a date column to split orders by time.")
    train, test = time_split(lines, columns.date, test_share=test_share, group_col=columns.order)
    inter = interaction_matrix(train, columns.order, columns.item)
    queries, hidden = leave_one_out(test, columns.order, columns.item, inter.col_ids, seed)
    n_items = inter.shape[1]
    tell = step or (lambda what, share: None)
    grid = [(s, m) for s in similarities for m in min_counts]
    steps = 1 + len(grid) + 3 * with_ease
    tell("popularity and random", 0.0)
    rows = {}
    ranking = popularity_ranking(train.drop_duplicates([columns.order, columns.item])[columns.item])
    popular = popular_recommendations(ranking, queries, max(ks))
    rows[("random", "-")] = {"model": "random", **evaluate(random_recommendations(inter.col_ids, queries, max(ks),
                                                                                   seed), hidden, ks, n_items),
                             "build_s": 0.0}
    rows[("popularity", "-")] = {"model": "popularity", **evaluate(popular, hidden, ks, n_items), "build_s": 0.0}
    facts_ease, lam = {}, None
    if with_ease:
        tell("choosing EASE's λ on a validation split of the training orders", 1 / steps)
        lam, by_lambda = tuned_ease(train, columns, seed=seed)
        grid.append(("ease", 1))
    for i, (similarity, min_count) in enumerate(tqdm(grid, desc="Evaluating", disable=not progress)):
        tell(f"{similarity}, min count {min_count}", (1 + 2 * with_ease + i) / steps)
        started = time.perf_counter()
        found, _ = top_similar(inter.matrix, similarity=similarity, k=DEPTH, min_count=min_count,
                               ease_lambda=lam or 1.0)
        seconds = time.perf_counter() - started
        recs = basket_recommendations(found, inter.col_ids, queries, max(ks))
        answered = sum(1 for key in hidden if recs.get(key))
        rows[(similarity, min_count)] = {"model": similarity, **evaluate(recs, hidden, ks, n_items),
                                         "answered": answered / max(len(hidden), 1), "build_s": round(seconds, 2)}
    if with_ease:
        tell(f"EASE λ={lam:g}, full model", (steps - 1) / steps)
        model = ease.fit(inter.matrix, lam)
        recs = ease_recommendations(model, inter.col_ids, queries, max(ks))
        rows[("ease (full model)", f"λ={lam:g}")] = {
            "model": "ease-full-basket", **evaluate(recs, hidden, ks, n_items),
            "answered": sum(1 for key in hidden if recs.get(key)) / max(len(hidden), 1),
            "build_s": round(model.seconds, 2)}
        facts_ease = {"ease_lambda": lam, "ease_validation_hitrate10": by_lambda, "ease_items": len(model.kept)}
    tell("done", 1.0)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["similarity", "min_count"])
    table["users"] = table["users"].astype(int)
    facts = {
        "train_orders": int(train[columns.order].nunique()), "test_orders": int(test[columns.order].nunique()),
        "test_cut": str(pd.to_datetime(test[columns.date]).min()), "queries": len(queries),
        "train_products": int(n_items), **facts_ease,
    }
    return table, facts
