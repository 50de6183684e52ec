"""Offline evaluation of item k-NN movie recommendations (metrics from recommend.core.evaluate).

Per-user hold-out: the last `test_share` of each user's ratings by time are the test; the movies
rated 4 or more there are the relevant ones. Recommendations for a user: every movie scored by
the sum of its similarities to the movies the user liked (rated 4+) in training, among those
movies' `neighbours` nearest; movies already rated in training are left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.topk import top_k_rows
from recommend.core.evaluate import evaluate, popular_recommendations, popularity_ranking, relevant_sets
from recommend.core.interactions import interaction_matrix
from recommend.core.sparse_topk import cosine_top_k
from recommend.similar_movies.model import centred, rating_matrix

LIKED = 4.0


def per_user_split(ratings: pd.DataFrame, test_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): each user's latest `test_share` of ratings (at least one) are the test."""
    ordered = ratings.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    position = ordered.groupby("userId").cumcount(ascending=False)  # 0 = the user's latest
    size = ordered.groupby("userId")["movieId"].transform("size")
    n_test = np.maximum(1, np.round(size * test_share)).astype(int)
    is_test = position < n_test
    return ordered[~is_test], ordered[is_test]


def knn_recommendations(train: pd.DataFrame, users, *, k: int = 10, neighbours: int = 50,
                        min_ratings: int = 10, centre: str = "none") -> dict:
    """{user: top-k movie ids} from item k-NN built on `train` only."""
    counts = train["movieId"].value_counts()
    kept = centred(train, centre)
    kept = kept[kept["movieId"].isin(counts[counts >= min_ratings].index)]
    matrix, ids = rating_matrix(kept)
    weights = cosine_top_k(matrix, neighbours).as_matrix(len(ids))
    liked = interaction_matrix(train[train["rating"] >= LIKED], "userId", "movieId", col_ids=ids)
    seen = interaction_matrix(train, "userId", "movieId", col_ids=ids, row_ids=liked.row_ids)
    positions = liked.row_ids.get_indexer(list(users))
    found = positions >= 0
    # users x movies is small here (hundreds x thousands), so rank on a dense block
    scores = (liked.matrix[positions[found]] @ weights).toarray()
    scores[seen.matrix[positions[found]].toarray() > 0] = -np.inf  # never a movie already rated
    scores[scores <= 0] = -np.inf
    ranked = iter(top_k_rows(scores, k).indices)
    return {user: ([ids[j] for j in next(ranked) if j >= 0] if ok else [])
            for user, ok in zip(users, found)}


def random_split(ratings: pd.DataFrame, test_share: float = 0.25, seed: int = 42):
    """(train, test): a random `test_share` of all ratings, as in Microsoft Recommenders'
    MovieLens benchmark (there every test rating counts as relevant)."""
    is_test = np.random.default_rng(seed).random(len(ratings)) < test_share
    return ratings[~is_test], ratings[is_test]


def evaluate_movies(ratings: pd.DataFrame, *, k: int = 10, settings: list[dict],
                    split: str = "per-user-time") -> pd.DataFrame:
    """Popularity and each item k-NN setting on the same split, as one table."""
    if split == "per-user-time":
        train, test = per_user_split(ratings)
        relevant = relevant_sets(test[test["rating"] >= LIKED], "userId", "movieId")
    else:
        train, test = random_split(ratings)
        relevant = relevant_sets(test, "userId", "movieId")
    users = list(relevant)
    seen = {u: set(v) for u, v in train.groupby("userId")["movieId"]}
    catalog = train["movieId"].nunique()
    results = {"popularity": evaluate(
        popular_recommendations(popularity_ranking(train["movieId"]), {u: seen.get(u, set()) for u in users}, k),
        relevant, k, catalog)}
    for s in settings:
        name = f"item-kNN centre={s['centre']} min_ratings={s['min_ratings']}"
        results[name] = evaluate(knn_recommendations(train, users, k=k, **s), relevant, k, catalog)
    return pd.DataFrame.from_dict(results, orient="index")
