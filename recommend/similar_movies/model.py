"""Similar movies: item k-nearest-neighbours by cosine on the MovieLens movie x user ratings.

Build: ratings -> sparse movie x user matrix (optionally mean-centred per user) -> exact top-k
cosine neighbours by the fused sparse kernel (recommend.core.sparse_topk), so no movies x movies
matrix is ever held. The neighbours are the ones scikit-learn's
NearestNeighbors(metric="cosine", algorithm="brute") finds (tested). Works for any rated items.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.artifacts import library_versions, loading, utc_now, write_tables
from common.errors import InputError
from common.tables import read_csv
from common.topk import check_k
from recommend.core.interactions import interaction_matrix
from recommend.core.sparse_topk import cosine_top_k
from recommend.similar_movies.titles import display_title

KIND = "similar_movies"
FORMAT_VERSION = 1
REBUILD = "python -m recommend similar-movies --ratings RATINGS --movies MOVIES --out {folder}"
DEFAULT_K = 10
# Chosen by bench/evaluate_similar_movies.py (see the README): fewer ratings than this and a
# movie's neighbours are noise from a handful of people.
DEFAULT_MIN_RATINGS = 10
DEFAULT_CENTRE = "none"  # "none" (raw ratings, as the original notebook) or "user" (minus each user's mean)
CENTRES = ("none", "user")


def _read(path: Path, needed: list[str], what: str) -> pd.DataFrame:
    return read_csv(path, what=what, required=needed,
                    hint=f"Expected {', '.join(needed)} (the MovieLens layout).")


def read_ratings(path: Path) -> pd.DataFrame:
    table = _read(path, ["userId", "movieId", "rating"], "Ratings")
    if table.empty:
        raise InputError(f"Ratings file {path} has no rows.")
    return table


def read_movies(path: Path) -> pd.DataFrame:
    table = _read(path, ["movieId", "title"], "Movies")
    if "genres" not in table.columns:
        table["genres"] = ""
    return table


def movie_stats(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per movie: how many ratings and their mean."""
    g = ratings.groupby("movieId")["rating"]
    return pd.DataFrame({"n_ratings": g.size(), "mean_rating": g.mean().round(2)}).reset_index()


def centred(ratings: pd.DataFrame, centre: str) -> pd.DataFrame:
    """The ratings, minus each user's mean rating when centre == "user" (taste, not leniency)."""
    if centre not in CENTRES:
        raise InputError(f"centre must be one of {', '.join(CENTRES)}, not {centre!r}.")
    if centre == "none":
        return ratings
    return ratings.assign(rating=ratings["rating"] - ratings.groupby("userId")["rating"].transform("mean"))


def rating_matrix(ratings: pd.DataFrame):
    """Sparse movie x user matrix of the `rating` column, with the movie ids of its rows.
    (A centred rating equal to its user's mean is 0 and not stored: it carries no signal.)"""
    built = interaction_matrix(ratings, "movieId", "userId", "rating", binary=False)
    return built.matrix, np.asarray(built.row_ids)


@dataclass
class SimilarMovies:
    neighbours: pd.DataFrame  # movieId, rank, similar_movieId, similarity
    movies: pd.DataFrame  # movieId, title, genres, n_ratings, mean_rating (all movies)
    manifest: dict


def build(ratings: pd.DataFrame, movies: pd.DataFrame, *, k: int = DEFAULT_K,
          min_ratings: int = DEFAULT_MIN_RATINGS, centre: str = DEFAULT_CENTRE, progress: bool = False) -> SimilarMovies:
    """k most similar movies for every movie rated at least `min_ratings` times."""
    k = check_k(k)
    if isinstance(min_ratings, bool) or int(min_ratings) != min_ratings or min_ratings < 1:
        raise InputError(f"min_ratings must be a whole number of at least 1, got {min_ratings!r}.")
    started = time.perf_counter()
    stats = movie_stats(ratings)
    catalog = movies.merge(stats, on="movieId", how="left")
    catalog["n_ratings"] = catalog["n_ratings"].fillna(0).astype(int)
    kept_ids = set(stats.loc[stats["n_ratings"] >= min_ratings, "movieId"])
    # centring uses every rating of the user, not only those of kept movies
    kept = centred(ratings, centre)
    kept = kept[kept["movieId"].isin(kept_ids)]
    if kept.empty:
        raise InputError(f"No movie has {min_ratings} or more ratings; lower --min-ratings.")
    matrix, ids = rating_matrix(kept)
    near = cosine_top_k(matrix, k, progress=progress)  # shared with similar customers
    rows, ranks = near.entries()
    table = pd.DataFrame({
        "movieId": ids[rows], "rank": ranks + 1, "similar_movieId": ids[near.indices[rows, ranks]],
        "similarity": near.scores[rows, ranks].astype(np.float64).round(6),
    })
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "k": k, "min_ratings": min_ratings, "centre": centre,
        "similarity": "cosine between movie rows of the movie x user rating matrix",
        "ratings": int(len(ratings)), "read": dict(ratings.attrs.get("read", {})), "users": int(ratings["userId"].nunique()),
        "movies": int(len(catalog)), "movies_with_neighbours": int(table["movieId"].nunique()),
        "movies_considered": int(len(ids)), "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "numba"), "created": utc_now(),
    }
    return SimilarMovies(table, catalog, manifest)


def write(result: SimilarMovies, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    return write_tables(out, KIND, FORMAT_VERSION, {**result.manifest, "inputs": inputs or {}},
                        {"similar_movies.csv": result.neighbours, "movies.csv": result.movies}, rebuild or REBUILD)


def load(folder: Path) -> SimilarMovies:
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        return SimilarMovies(art.table("similar_movies.csv"), art.table("movies.csv"), art.manifest)


def answer(result: SimilarMovies, movie_id: int, k: int | None = None) -> pd.DataFrame:
    """The movie's neighbours with title, genres, rating count and mean rating, best first."""
    k = None if k is None else check_k(k)
    catalog = result.movies.set_index("movieId")
    if movie_id not in catalog.index:
        raise InputError(f"unknown movieId {movie_id}; search by title to find a movie's id.")
    rows = result.neighbours[result.neighbours["movieId"] == movie_id]
    if rows.empty:
        n = int(catalog.at[movie_id, "n_ratings"])
        raise InputError(f"{display_title(catalog.at[movie_id, 'title'])} has {n} rating(s), fewer than the "
                         f"{result.manifest['min_ratings']} needed for neighbours; lower --min-ratings.")
    rows = rows.head(k) if k else rows
    info = catalog.loc[rows["similar_movieId"], ["title", "genres", "n_ratings", "mean_rating"]].copy()
    info["title"] = info["title"].map(display_title)
    return pd.concat([rows[["rank", "similar_movieId", "similarity"]].reset_index(drop=True),
                      info.reset_index(drop=True)], axis=1)
