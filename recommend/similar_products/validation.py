"""The original notebook's check of similar products: are they in the same category?"""
from __future__ import annotations

import numpy as np
import pandas as pd


def same_category_validation(idx: np.ndarray, categories: np.ndarray, popularity: np.ndarray,
                             k: int) -> pd.DataFrame:
    """The original notebook's check, per category: share of products whose best recommendation (top1) and
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
