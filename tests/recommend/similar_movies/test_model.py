"""Similar movies: neighbours equal scikit-learn's brute-force cosine k-NN; filters; errors; CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

import settings
from common.errors import InputError
from recommend.core.sparse_topk import cosine_top_k
from recommend.similar_movies.model import answer, build, centred, load, rating_matrix, read_ratings, write
from tests.helpers import ROOT, movies_for, random_ratings



@pytest.mark.parametrize("centre", ["none", "user"])
def test_neighbours_equal_sklearn_brute_force_cosine(centre):
    ratings = random_ratings()
    matrix, ids = rating_matrix(centred(ratings, centre))
    k = 6
    found = cosine_top_k(matrix, k)
    idx, sims = found.indices, found.scores
    dense = matrix.toarray()
    nn = NearestNeighbors(metric="cosine", algorithm="brute").fit(dense)
    dist, ref = nn.kneighbors(dense, n_neighbors=k + 1)
    for row in range(len(ids)):
        expected = [(j, 1 - d) for j, d in zip(ref[row], dist[row]) if j != row and 1 - d > 1e-9][:k]
        got = [(j, s) for j, s in zip(idx[row], sims[row]) if j >= 0]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
        # same neighbours, ties aside: compare the sets of those strictly above the k-th score
        cut = expected[-1][1] + 1e-5
        assert {j for j, s in got if s > cut} == {j for j, s in expected if s > cut}


def test_min_ratings_leaves_rare_movies_out_on_both_sides():
    ratings = random_ratings(seed=1)
    counts = ratings["movieId"].value_counts()
    threshold = int(counts.median())
    result = build(ratings, movies_for(ratings), k=5, min_ratings=threshold)
    rare = set(counts[counts < threshold].index)
    assert rare, "the test data must have rare movies"
    table = result.neighbours
    assert not (set(table["movieId"]) & rare) and not (set(table["similar_movieId"]) & rare)
    assert set(table["movieId"]) == set(counts[counts >= threshold].index)
    rare_id = int(next(iter(rare)))
    with pytest.raises(InputError, match="lower --min-ratings"):
        answer(result, str(rare_id))


def test_answer_lists_titles_and_stats_best_first(tmp_path):
    ratings = random_ratings(seed=2)
    result = build(ratings, movies_for(ratings), k=4, min_ratings=1)
    write(result, tmp_path / "sm")
    again = load(tmp_path / "sm")
    shown = answer(again, "3")
    assert list(shown["rank"]) == [1, 2, 3, 4]
    assert shown["score"].is_monotonic_decreasing
    assert "3" not in set(shown["id"])
    stats = ratings.groupby("movieId")["rating"].agg(["size", "mean"])
    for row in shown.itertuples():
        assert row.n_ratings == stats.loc[int(row.id), "size"]
        assert row.mean_rating == pytest.approx(stats.loc[int(row.id), "mean"], abs=0.01)
        assert row.title.startswith(f"Movie {row.id} (")
    for unknown in ("999999", "²", "toy", "1" * 19):  # not an item, nor a whole number the ids could hold
        with pytest.raises(InputError, match="unknown item id"):
            answer(again, unknown)


def test_wrong_columns_say_what_was_expected(tmp_path):
    bad = tmp_path / "ratings.csv"
    pd.DataFrame({"user": [1], "item": [2], "stars": [3]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="lacks column.*userId.*movieId.*rating"):
        read_ratings(bad)
    with pytest.raises(InputError, match="not found"):
        read_ratings(tmp_path / "nope.csv")


def test_demo_data_toy_story_neighbours_include_its_sequel():
    ratings = pd.read_csv(settings.DEMO_MOVIELENS_RATINGS)
    movies = pd.read_csv(settings.DEMO_MOVIELENS_MOVIES)
    for model, centre in (("ease", "none"), ("item-knn", "none"), ("item-knn", "user")):
        found = answer(build(ratings, movies, k=10, centre=centre, model=model), "1")
        assert "Toy Story 2 (1999)" in set(found["title"]), model


def test_ease_lists_are_each_liked_movies_largest_weights_and_unliked_movies_keep_cosine_lists():
    from recommend.core import ease
    from recommend.core.interactions import interaction_matrix

    ratings = random_ratings(seed=8, movies=20)
    never_liked = ratings["movieId"].max()  # every rating of this movie is below 4
    ratings.loc[ratings["movieId"] == never_liked, "rating"] = 2.0
    result = build(ratings, movies_for(ratings), k=3, min_ratings=1, ease_lambda=15.0)
    assert result.manifest["model"] == "ease" and result.manifest["ease"]["movies_with_cosine_lists"] == 1
    likes = interaction_matrix(ratings[ratings["rating"] >= 4], "userId", "movieId")
    fitted = ease.fit(likes.matrix, 15.0)
    ids = np.asarray(likes.col_ids)[fitted.kept]
    for i, movie in enumerate(ids):
        row = fitted.weights[i]
        expected = np.sort(row[row > 0])[::-1][:3]
        got = result.neighbours[result.neighbours["movieId"] == movie]
        np.testing.assert_allclose(got["similarity"], expected, atol=1e-6)
        assert set(got["similar_movieId"]) <= set(ids[row > 0])
    matrix, all_ids = rating_matrix(ratings)
    cosine = cosine_top_k(matrix, 3)
    row = list(all_ids).index(never_liked)
    shown = result.neighbours[result.neighbours["movieId"] == never_liked]
    assert shown["similar_movieId"].tolist() == all_ids[cosine.indices[row][cosine.indices[row] >= 0]].tolist()
    with pytest.raises(InputError, match="--model for similar movies must be one of ease, item-knn, not 'svd'"):
        build(ratings, movies_for(ratings), model="svd")


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommend", "similar-movies", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_writes_the_artifact_and_answers_a_title(tmp_path):
    ratings = random_ratings(seed=3)
    ratings.to_csv(tmp_path / "r.csv", index=False)
    movies_for(ratings).to_csv(tmp_path / "m.csv", index=False)
    done = run_cli("--ratings", tmp_path / "r.csv", "--movies", tmp_path / "m.csv", "-k", "3",
                   "--min-ratings", "1", "--out", tmp_path / "out", "--title", "movie 7")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "similar_movies.csv")
    assert list(table.columns) == ["movieId", "rank", "similar_movieId", "similarity"]
    assert (table.groupby("movieId").size() == 3).all()
    assert (tmp_path / "out" / "manifest.json").is_file()
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Wrote neighbours of 25 movies")
    assert lines[1].startswith("Movie 7 (1997)")
    assert len([line for line in done.stdout.splitlines() if line.strip()[:2].rstrip(".").isdigit()]) == 3

    unknown = run_cli("--ratings", tmp_path / "r.csv", "--movies", tmp_path / "m.csv", "--title", "zzzz qqq")
    assert unknown.returncode == 2 and "No movie title matches" in unknown.stderr
    assert "Traceback" not in unknown.stderr
