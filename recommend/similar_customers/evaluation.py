"""Offline evaluation of similar-customer recommendations (metrics from recommend.core.evaluate).

Split by time: purchases before the cut train, purchases on or after it test, for customers
present in both; relevant = the products a customer bought in the test period and never before
(a recommender never proposes what the customer already has). Compared: popularity, user-user
cosine with each weighting and neighbour count, item-item (similar products) scoring, and EASE
with λ chosen on a validation cut inside the training months (the test is never looked at).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from common.shop_tables import OrderColumns
from recommend.core import ease
from recommend.core.evaluate import evaluate, popular_recommendations, popularity_ranking, relevant_sets
from recommend.core.interactions import interaction_matrix
from recommend.core.sparse_topk import product_top_k
from recommend.datasets.online_retail import ORDER_COLUMNS as ONLINE_RETAIL
from recommend.similar_customers.model import (
    DEFAULT_NEIGHBOURS, DEFAULT_WEIGHTING, customer_matrix, nearest_customers,
    recommend_from_neighbours,
)
from recommend.similar_products.similarity import top_similar

COLS = ONLINE_RETAIL
TEST_SHARE = 0.2  # without a cut, the latest 20% of purchase lines (by date) are the test
Step = Callable[[str, float], None]


def default_cut(purchases: pd.DataFrame, cols: OrderColumns = COLS, test_share: float = TEST_SHARE) -> str:
    """The date (a day) after which about `test_share` of the purchase lines fall."""
    when = pd.to_datetime(purchases[cols.date])
    return str(when.quantile(1 - test_share).normalize().date())


def split_by_date(purchases: pd.DataFrame, cut: str = "2011-09-01", cols: OrderColumns = COLS):
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


def user_user(train: pd.DataFrame, customers, *, weighting: str, k: int, n: int = 10, cols: OrderColumns = COLS) -> dict:
    built = customer_matrix(train, cols, weighting)
    near = nearest_customers(built.matrix, k)
    return _as_lists(built, recommend_from_neighbours(built.matrix, near, n).indices, customers)


def item_item(train: pd.DataFrame, customers, *, neighbours: int = 50, n: int = 10, cols: OrderColumns = COLS) -> dict:
    """Score = sum of the similarities (plain item cosine over invoices) between a product and
    the products the customer bought, over each bought product's nearest `neighbours`."""
    bought = customer_matrix(train, cols, "binary")
    orders = interaction_matrix(train, cols.order, cols.item, col_ids=bought.col_ids)
    near, _ = top_similar(orders.matrix, similarity="cosine", k=neighbours)
    weights = near.as_matrix(bought.shape[1])
    pos = bought.row_positions(customers)
    found = pos >= 0
    history = bought.matrix[pos[found]]
    best = product_top_k(history, weights, n, exclude=history).indices
    ids = np.asarray(bought.col_ids)
    ranked = iter(best)
    return {c: ([ids[j] for j in next(ranked) if j >= 0] if ok_ else []) for c, ok_ in zip(customers, found)}


def _ease_inputs(train: pd.DataFrame, customers, cols: OrderColumns):
    """(the training customers x products to fit, lists(model, n) -> {customer: n products}),
    the matrix built once whatever the number of λ tried."""
    bought = customer_matrix(train, cols, "binary")
    pos = bought.row_positions(customers)
    found = pos >= 0
    history, ids = bought.matrix[pos[found]], np.asarray(bought.col_ids)

    def lists(model: ease.Ease, n: int = 10) -> dict:
        top = iter(ease.recommend(model, history, n).top.indices)
        return {c: ([ids[j] for j in next(top) if j >= 0] if ok_ else []) for c, ok_ in zip(customers, found)}

    return bought.matrix, lists


def ease_lists(train: pd.DataFrame, customers, lam: float, *, n: int = 10,
               cols: OrderColumns = COLS) -> tuple[dict, ease.Ease]:
    """{customer: n products} from EASE fitted on the training customers x products."""
    matrix, lists = _ease_inputs(train, customers, cols)
    model = ease.fit(matrix, lam)
    return lists(model, n), model


def tuned_lambda(train: pd.DataFrame, cols: OrderColumns = COLS, lambdas=ease.LAMBDAS) -> tuple[float, dict]:
    """EASE's λ by NDCG@10 on a validation cut of the training purchases (its latest 20%); the
    model's default λ, with no scores, when no customer buys again after that cut. NDCG@10, not
    the hit rate: a returning customer buys several new products, and NDCG rewards ranking more
    of them, higher (similar products hides one product an order, and tunes on HitRate@10)."""
    from recommend.similar_customers.model import EASE_LAMBDA

    fit_part, valid = split_by_date(train, default_cut(train, cols), cols)
    customers = sorted(valid)
    if not customers or fit_part.empty:
        return EASE_LAMBDA, {}
    matrix, lists = _ease_inputs(fit_part, customers, cols)
    return ease.tune_lambda(matrix, lambda model: evaluate(lists(model), valid, 10)["NDCG@10"], lambdas)


def evaluate_customers(purchases: pd.DataFrame, *, cut: str | None = "2011-09-01", k: int = 10,
                       grid: list[dict] | None = None, cols: OrderColumns = COLS, with_ease: bool = True,
                       with_item_item: bool = True, step: Step | None = None) -> tuple[pd.DataFrame, dict]:
    """(table, facts): one row per recommender (popularity, each user-user setting of `grid`,
    item-item, EASE), each naming its `model` (a registered name, or the baseline's), and the
    split; `step(what, share done)` is told as each one starts."""
    cut = cut or default_cut(purchases, cols)
    train, relevant = split_by_date(purchases, cut, cols)
    customers = sorted(relevant)
    n_items = train[cols.item].nunique()
    seen = relevant_sets(train, cols.customer, cols.item)
    grid = grid or [{"weighting": DEFAULT_WEIGHTING, "k": DEFAULT_NEIGHBOURS}]
    steps = 1 + len(grid) + with_item_item + 2 * with_ease
    tell = step or (lambda what, share: None)
    tell("popularity", 0.0)
    results = {"popularity": {"model": "popularity", **evaluate(popular_recommendations(
        popularity_ranking(train.drop_duplicates([cols.customer, cols.item])[cols.item]),
        {c: seen[c] for c in customers}, k), relevant, k, n_items)}}
    for i, g in enumerate(grid):
        tell(f"user-user {g['weighting']}, {g['k']} neighbours", (1 + i) / steps)
        results[f"user-user {g['weighting']} k={g['k']}"] = {
            "model": "user-user", **g, **evaluate(user_user(train, customers, n=k, cols=cols, **g), relevant, k, n_items)}
    if with_item_item and cols.order:
        tell("item-item cosine", (1 + len(grid)) / steps)
        results["item-item cosine (50 neighbours)"] = {
            "model": "item-item", **evaluate(item_item(train, customers, n=k, cols=cols), relevant, k, n_items)}
    facts = {"cut": cut, "train_lines": int(len(train)), "test_customers": len(customers),
             "train_products": int(n_items)}
    if with_ease:
        tell("choosing EASE's λ on a validation cut of the training months", (steps - 2) / steps)
        best, by_lambda = tuned_lambda(train, cols)
        tell(f"EASE λ={best:g}", (steps - 1) / steps)
        lists, model = ease_lists(train, customers, best, n=k, cols=cols)
        results[f"ease λ={best:g}"] = {"model": "ease", **evaluate(lists, relevant, k, n_items),
                                       "fit_s": round(model.seconds, 2)}
        facts.update({"ease_lambda": best, "ease_validation_ndcg10": by_lambda, "ease_products": int(len(model.kept))})
    tell("done", 1.0)
    return pd.DataFrame.from_dict(results, orient="index"), facts
