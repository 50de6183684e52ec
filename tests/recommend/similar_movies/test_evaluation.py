"""Movie evaluation pieces: the per-user time split and the k-NN recommendations it scores."""
from __future__ import annotations

import numpy as np

from recommend.similar_movies.evaluation import evaluate_movies, knn_recommendations, per_user_split
from tests.helpers import random_ratings


def test_per_user_split_holds_out_each_users_latest_fifth():
    ratings = random_ratings(users=12, movies=30, density=0.5, seed=4)
    train, test = per_user_split(ratings)
    assert len(train) + len(test) == len(ratings)
    for user, rows in ratings.groupby("userId"):
        held = test[test["userId"] == user]
        assert len(held) == max(1, round(len(rows) * 0.2))
        kept = train[train["userId"] == user]
        assert held["timestamp"].min() > kept["timestamp"].max()


def test_knn_recommendations_match_a_dense_reference_and_skip_seen_movies():
    ratings = random_ratings(users=15, movies=12, density=0.5, seed=5)
    recs = knn_recommendations(ratings, users=sorted(ratings["userId"].unique()), k=3, neighbours=4,
                               min_ratings=1)
    dense = ratings.pivot_table(index="movieId", columns="userId", values="rating", fill_value=0)
    unit = dense.to_numpy() / np.linalg.norm(dense.to_numpy(), axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, 0)
    # keep each movie's 4 best neighbours only, as the recommender does
    for i in range(len(sims)):
        sims[i, np.argsort(-sims[i], kind="stable")[4:]] = 0
    movies = list(dense.index)
    for user, got in recs.items():
        mine = ratings[ratings["userId"] == user]
        liked = [movies.index(m) for m in mine.loc[mine["rating"] >= 4, "movieId"]]
        score = sims[liked].sum(axis=0) if liked else np.zeros(len(movies))
        score[[movies.index(m) for m in mine["movieId"]]] = 0
        expected_order = [movies[j] for j in np.argsort(-score, kind="stable") if score[j] > 0][:3]
        assert not set(got) & set(mine["movieId"])
        np.testing.assert_allclose(sorted(score[[movies.index(m) for m in got]], reverse=True),
                                   sorted(score[[movies.index(m) for m in expected_order]], reverse=True),
                                   atol=1e-5)


def test_evaluation_table_has_baseline_and_each_setting():
    ratings = random_ratings(users=30, movies=40, density=0.4, seed=6)
    steps = []
    table, facts = evaluate_movies(ratings, k=5, settings=[{"centre": "none", "min_ratings": 1}],
                                   step=lambda what, share: steps.append(share))
    lam = facts["ease_lambda"]
    assert list(table.index) == ["popularity", "item-kNN centre=none min_ratings=1", f"ease λ={lam:g}"]
    assert facts["ease_validation_ndcg10"][lam] == max(facts["ease_validation_ndcg10"].values())
    assert steps == sorted(steps) and steps[0] == 0.0 and steps[-1] == 1.0 and len(steps) == 5
    for column in ("Precision@5", "Recall@5", "NDCG@5", "MAP@5", "Coverage@5"):
        assert table[column].between(0, 1).all()
    assert (table["users"] > 0).all()
