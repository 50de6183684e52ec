"""Offline evaluation of item k-NN movie recommendations (metrics from recommend.core.evaluate).

Per-user hold-out: the last `test_share` of each user's ratings by time are the test; the movies
rated 4 or more there are the relevant ones. Recommendations for a user: every movie scored by
the sum of its similarities to the movies the user liked (rated 4+) in training, among those
movies' `neighbours` nearest (item k-NN), or the user's liked movies times EASE's weights (λ
chosen on a validation split of the training ratings: each user's latest 20% of them); movies
already rated in training are left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from typing import Callable

from common.topk import top_k_rows
from recommend.core import ease
from recommend.core.evaluate import evaluate, popular_recommendations, popularity_ranking, relevant_sets
from recommend.core.interactions import interaction_matrix
from recommend.core.sparse_topk import cosine_top_k
from recommend.similar_movies.model import (DEFAULT_CENTRE, DEFAULT_MIN_RATINGS, LIKED, centred, liked,
                                            rating_matrix)

Step = Callable[[str, float], None]


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


def _ease_inputs(train: pd.DataFrame, users, min_ratings: int):
    """(the training users x liked movies to fit, lists(model, k) -> {user: k movie ids}), built
    once whatever the number of λ tried: movies rated `min_ratings` times or more; a user's list
    leaves out every movie they rated in training."""
    counts = train["movieId"].value_counts()
    ids = pd.Index(np.sort(counts[counts >= min_ratings].index.to_numpy()))
    likes = interaction_matrix(liked(train[train["movieId"].isin(ids)]), "userId", "movieId", col_ids=ids)
    seen = interaction_matrix(train, "userId", "movieId", col_ids=ids, row_ids=likes.row_ids)
    positions = likes.row_ids.get_indexer(list(users))
    found = positions >= 0
    history, rated, movie = likes.matrix[positions[found]], seen.matrix[positions[found]], np.asarray(ids)

    def lists(model: ease.Ease, k: int = 10) -> dict:
        ranked = iter(ease.recommend(model, history, k, exclude=rated).top.indices)
        return {user: ([movie[j] for j in next(ranked) if j >= 0] if ok else []) for user, ok in zip(users, found)}

    return likes.matrix, lists


def ease_recommendations(train: pd.DataFrame, users, lam: float, *, k: int = 10,
                         min_ratings: int = DEFAULT_MIN_RATINGS) -> tuple[dict, ease.Ease]:
    """{user: top-k movie ids}: the user's liked training movies times EASE's weights, fitted on
    the training likes of movies rated `min_ratings` times or more; movies already rated left out."""
    matrix, lists = _ease_inputs(train, users, min_ratings)
    model = ease.fit(matrix, lam)
    return lists(model, k), model


def tuned_lambda(train: pd.DataFrame, lambdas=ease.LAMBDAS, min_ratings: int = DEFAULT_MIN_RATINGS):
    """EASE's λ by NDCG@10 on each training user's latest 20% of training ratings (fitted on the rest):
    a user holds out several liked items, and NDCG rewards ranking more of them, higher."""
    fit_part, valid = per_user_split(train)
    relevant = relevant_sets(valid[valid["rating"] >= LIKED], "userId", "movieId")
    if not relevant:  # no liked movie held out: keep the model's λ
        from recommend.similar_movies.model import EASE_LAMBDA

        return EASE_LAMBDA, {}
    matrix, lists = _ease_inputs(fit_part, list(relevant), min_ratings)
    return ease.tune_lambda(matrix, lambda model: evaluate(lists(model), relevant, 10)["NDCG@10"], lambdas)


def random_split(ratings: pd.DataFrame, test_share: float = 0.25, seed: int = 42):
    """(train, test): a random `test_share` of all ratings, as in Microsoft Recommenders'
    MovieLens benchmark (there every test rating counts as relevant)."""
    is_test = np.random.default_rng(seed).random(len(ratings)) < test_share
    return ratings[~is_test], ratings[is_test]


def evaluate_movies(ratings: pd.DataFrame, *, k: int = 10, settings: list[dict] | None = None,
                    split: str = "per-user-time", with_ease: bool = True,
                    step: Step | None = None) -> tuple[pd.DataFrame, dict]:
    """(table, facts): popularity, each item k-NN setting and EASE on the same split, each row
    naming its `model` (a registered name, or the baseline's)."""
    if split == "per-user-time":
        train, test = per_user_split(ratings)
        relevant = relevant_sets(test[test["rating"] >= LIKED], "userId", "movieId")
    else:
        train, test = random_split(ratings)
        relevant = relevant_sets(test, "userId", "movieId")
    settings = settings or [{"centre": DEFAULT_CENTRE, "min_ratings": DEFAULT_MIN_RATINGS}]
    tell = step or (lambda what, share: None)
    steps = 1 + len(settings) + 2 * with_ease
    users = list(relevant)
    seen = {u: set(v) for u, v in train.groupby("userId")["movieId"]}
    n_items = train["movieId"].nunique()
    tell("popularity", 0.0)
    results = {"popularity": {"model": "popularity", **evaluate(
        popular_recommendations(popularity_ranking(train["movieId"]), {u: seen.get(u, set()) for u in users}, k),
        relevant, k, n_items)}}
    for i, s in enumerate(settings):
        name = f"item-kNN centre={s['centre']} min_ratings={s['min_ratings']}"
        tell(name, (1 + i) / steps)
        results[name] = {"model": "item-knn", **s, **evaluate(knn_recommendations(train, users, k=k, **s), relevant,
                                                               k, n_items)}
    facts = {"split": split, "train_ratings": int(len(train)), "test_users": len(users), "train_movies": int(n_items)}
    if with_ease:
        tell("choosing EASE's λ on a validation split of the training ratings", (steps - 2) / steps)
        best, by_lambda = tuned_lambda(train)
        tell(f"EASE λ={best:g}", (steps - 1) / steps)
        lists, model = ease_recommendations(train, users, best, k=k)
        results[f"ease λ={best:g}"] = {"model": "ease", **evaluate(lists, relevant, k, n_items),
                                       "fit_s": round(model.seconds, 2)}
        facts.update({"ease_lambda": best, "ease_validation_ndcg10": by_lambda, "ease_movies": int(len(model.kept))})
    tell("done", 1.0)
    return pd.DataFrame.from_dict(results, orient="index"), facts
