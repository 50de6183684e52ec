"""Similar movies: item k-nearest-neighbours by cosine on the MovieLens movie x user ratings.

Build: ratings -> sparse movie x user matrix (optionally mean-centred per user) -> unit rows ->
exact top-k cosine neighbours, computed block by block (a block of movies against all movies),
so memory stays bounded and no dense movies x movies matrix is ever held. The neighbours are
the ones scikit-learn's NearestNeighbors(metric="cosine", algorithm="brute") finds (tested).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommend.artifacts import atomic_dir, library_versions, read_manifest, utc_now, write_json_atomic
from recommend.cli import InputError
from recommend.interactions import interaction_matrix
from recommend.movie_titles import display_title
from recommend.cosine_neighbours import cosine_neighbours

KIND = "similar_movies"
DEFAULT_K = 10
# Chosen by bench/evaluate_similar_movies.py (see the README): fewer ratings than this and a
# movie's neighbours are noise from a handful of people.
DEFAULT_MIN_RATINGS = 10
DEFAULT_CENTRE = "none"  # "none" (raw ratings, as the seed) or "user" (minus each user's mean)
CENTRES = ("none", "user")


def _read_csv(path: Path, needed: list[str], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file {path} not found.")
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"Cannot read {what} file {path}: {exc}") from exc
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"{what} file {path} lacks column(s) {', '.join(missing)}; expected "
                         f"{', '.join(needed)} (MovieLens layout), found {', '.join(map(str, table.columns))}.")
    return table


def read_ratings(path: Path) -> pd.DataFrame:
    table = _read_csv(path, ["userId", "movieId", "rating"], "Ratings")
    if table.empty:
        raise InputError(f"Ratings file {path} has no rows.")
    return table


def read_movies(path: Path) -> pd.DataFrame:
    table = _read_csv(path, ["movieId", "title"], "Movies")
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


def build_similar_movies(ratings: pd.DataFrame, movies: pd.DataFrame, *, k: int = DEFAULT_K,
                         min_ratings: int = DEFAULT_MIN_RATINGS, centre: str = DEFAULT_CENTRE,
                         progress: bool = False) -> SimilarMovies:
    """k most similar movies for every movie rated at least `min_ratings` times."""
    if k < 1 or min_ratings < 1:
        raise InputError("k and min_ratings must be at least 1.")
    started = time.perf_counter()
    stats = movie_stats(ratings)
    catalogue = movies.merge(stats, on="movieId", how="left")
    catalogue["n_ratings"] = catalogue["n_ratings"].fillna(0).astype(int)
    kept_ids = set(stats.loc[stats["n_ratings"] >= min_ratings, "movieId"])
    # centring uses every rating of the user, not only those of kept movies
    kept = centred(ratings, centre)
    kept = kept[kept["movieId"].isin(kept_ids)]
    if kept.empty:
        raise InputError(f"No movie has {min_ratings} or more ratings; lower --min-ratings.")
    matrix, ids = rating_matrix(kept)
    idx, sims = cosine_neighbours(matrix, k, progress=progress)  # shared with similar customers
    rows, ranks = np.nonzero(idx >= 0)
    table = pd.DataFrame({
        "movieId": ids[rows], "rank": ranks + 1, "similar_movieId": ids[idx[rows, ranks]],
        "similarity": sims[rows, ranks].astype(np.float64).round(6),
    })
    manifest = {
        "kind": KIND, "format_version": 1, "k": k, "min_ratings": min_ratings, "centre": centre,
        "similarity": "cosine between movie rows of the movie x user rating matrix",
        "ratings": int(len(ratings)), "users": int(ratings["userId"].nunique()),
        "movies": int(len(catalogue)), "movies_with_neighbours": int(table["movieId"].nunique()),
        "movies_considered": int(len(ids)), "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas"), "created": utc_now(),
    }
    return SimilarMovies(table, catalogue, manifest)


def write_similar_movies(result: SimilarMovies, out: Path, sources: dict | None = None) -> Path:
    with atomic_dir(Path(out)) as tmp:
        result.neighbours.to_csv(tmp / "similar_movies.csv", index=False)
        result.movies.to_csv(tmp / "movies.csv", index=False)
        write_json_atomic(tmp / "manifest.json", {**result.manifest, "inputs": sources or {}})
    return Path(out)


def load_similar_movies(folder: Path) -> SimilarMovies:
    manifest = read_manifest(folder, kind=KIND)
    return SimilarMovies(pd.read_csv(Path(folder) / "similar_movies.csv"),
                         pd.read_csv(Path(folder) / "movies.csv"), manifest)


def similar_to(result: SimilarMovies, movie_id: int, k: int | None = None) -> pd.DataFrame:
    """The movie's neighbours with title, genres, rating count and mean rating, best first."""
    catalogue = result.movies.set_index("movieId")
    if movie_id not in catalogue.index:
        raise KeyError(f"unknown movieId {movie_id}")
    rows = result.neighbours[result.neighbours["movieId"] == movie_id]
    if rows.empty:
        n = int(catalogue.at[movie_id, "n_ratings"])
        raise InputError(f"{display_title(catalogue.at[movie_id, 'title'])} has {n} rating(s), fewer than the "
                         f"{result.manifest['min_ratings']} needed for neighbours; lower --min-ratings.")
    rows = rows.head(k) if k else rows
    info = catalogue.loc[rows["similar_movieId"], ["title", "genres", "n_ratings", "mean_rating"]].copy()
    info["title"] = info["title"].map(display_title)
    return pd.concat([rows[["rank", "similar_movieId", "similarity"]].reset_index(drop=True),
                      info.reset_index(drop=True)], axis=1)
