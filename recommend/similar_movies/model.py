"""Similar movies (any rated items): each movie's most similar movies, by one of MODELS.

  ease      EASE's item-item weights (recommend/core/ease.py) fitted on who liked what (rated
            LIKED or more): a movie's list is the movies its liking adds most to
  item-knn  the original notebook's: cosine between rows of the sparse movie x user rating matrix
            (optionally mean-centred per user), exact top k by the fused sparse kernel
            (recommend.core.sparse_topk), the neighbours scikit-learn's
            NearestNeighbors(metric="cosine", algorithm="brute") finds (tested)
Either way only movies rated at least `min_ratings` times take part.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.artifacts import library_versions, loading, utc_now, write_tables
from common.errors import InputError
from common.tables import read_csv
from common.topk import check_k, top_k_rows
from recommend.core import ease
from recommend.core.interactions import interaction_matrix
from recommend.core.models import Model, Models
from recommend.core.sparse_topk import cosine_top_k, product_top_k, unit_rows
from recommend.similar_movies.titles import display_title

KIND = "similar_movies"
FORMAT_VERSION = 1
REBUILD = "python -m recommend similar-movies --ratings RATINGS --movies MOVIES --out {folder}"
DEFAULT_K = 10
# Chosen by bench/evaluate_similar_movies.py (see docs/recommenders.md): fewer ratings than this and a
# movie's neighbours are noise from a handful of people.
DEFAULT_MIN_RATINGS = 10
DEFAULT_CENTRE = "none"  # "none" (raw ratings, as the original notebook) or "user" (minus each user's mean)
CENTRES = ("none", "user")
# Chosen by bench/evaluate_similar_movies.py (docs/recommenders.md): EASE on liked ratings ranks each user's next
# liked movies better than the item k-NN (NDCG@10), λ chosen on a validation split of the training ratings.
DEFAULT_MODEL = "ease"
EARLIER_DEFAULT = "item-knn"  # the original notebook's: what "How good is this?" compares the default with
EASE_LAMBDA = 100.0
LIKED = 4.0  # a rating this high or more counts as liked (EASE's input, the evaluation's relevance)


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


def liked(ratings: pd.DataFrame) -> pd.DataFrame:
    """The ratings that count as liked: LIKED or more, or every rating if none is that high
    (a 0/1 or 1-3 scale)."""
    high = ratings[ratings["rating"] >= LIKED]
    return high if len(high) else ratings


def ease_neighbours(ratings: pd.DataFrame, ids: np.ndarray, k: int, lam: float = EASE_LAMBDA):
    """(TopK over `ids`, fitted model): each movie's k largest positive EASE weights, EASE fitted
    on users x movies of the liked ratings of those movies."""
    likes = interaction_matrix(liked(ratings), "userId", "movieId", col_ids=pd.Index(ids))
    model = ease.fit(likes.matrix, lam)
    if not len(model.kept):
        raise InputError("No movie is liked by anyone; build with --model item-knn instead.")
    top = top_k_rows(np.where(model.weights > 0, model.weights, -np.inf), min(k, len(model.kept)))
    return top, model


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
          min_ratings: int = DEFAULT_MIN_RATINGS, centre: str = DEFAULT_CENTRE, model: str = DEFAULT_MODEL,
          ease_lambda: float = EASE_LAMBDA, progress: bool = False) -> SimilarMovies:
    """k most similar movies for every movie rated at least `min_ratings` times (see MODELS)."""
    k = check_k(k)
    chosen = MODELS[model]
    if isinstance(min_ratings, bool) or int(min_ratings) != min_ratings or min_ratings < 1:
        raise InputError(f"min_ratings must be a whole number of at least 1, got {min_ratings!r}.")
    started = time.perf_counter()
    stats = movie_stats(ratings)
    rated = movies.merge(stats, on="movieId", how="left")  # the movies with their rating counts
    rated["n_ratings"] = rated["n_ratings"].fillna(0).astype(int)
    kept_ids = set(stats.loc[stats["n_ratings"] >= min_ratings, "movieId"])
    # centring uses every rating of the user, not only those of kept movies
    kept = centred(ratings, centre)
    kept = kept[kept["movieId"].isin(kept_ids)]
    if kept.empty:
        raise InputError(f"No movie has {min_ratings} or more ratings; lower --min-ratings.")
    matrix, ids = rating_matrix(kept)
    table, facts = chosen.fit(Rated(ratings[ratings["movieId"].isin(kept_ids)], matrix, ids), k, progress=progress,
                              ease_lambda=ease_lambda)
    manifest = {
        "kind": KIND, "format_version": FORMAT_VERSION, "k": k, "min_ratings": min_ratings, "centre": centre,
        "model": model, **facts,
        "similarity": chosen.about,
        "ratings": int(len(ratings)), "read": dict(ratings.attrs.get("read", {})), "users": int(ratings["userId"].nunique()),
        "movies": int(len(rated)), "movies_with_neighbours": int(table["movieId"].nunique()),
        "movies_considered": int(len(ids)), "seconds": round(time.perf_counter() - started, 2),
        "library_versions": library_versions("numpy", "scipy", "pandas", "numba"), "created": utc_now(),
    }
    return SimilarMovies(table, rated, manifest)



@dataclass(frozen=True)
class Rated:
    """What a model of similar items is fitted on: the movies with enough ratings."""

    ratings: pd.DataFrame  # their ratings as given (userId, movieId, rating)
    matrix: sp.csr_matrix  # movies x users, centred as asked
    ids: np.ndarray  # the movie of each row


# --- the models, by name -----------------------------------------------------------------------
# fit(data: Rated, k, *, progress, ease_lambda) -> (table of movieId, rank, similar_movieId,
# similarity, best first; facts for the manifest). A new model: its fit function and one
# MODELS.register line.

def _ease(data: Rated, k: int, *, ease_lambda: float = EASE_LAMBDA, **_) -> tuple[pd.DataFrame, dict]:
    top, fitted = ease_neighbours(data.ratings, data.ids, k, ease_lambda)
    rows, ranks = top.entries()
    movie_of = data.ids[fitted.kept]
    parts = [pd.DataFrame({"movieId": movie_of[rows], "rank": ranks + 1,
                           "similar_movieId": movie_of[top.indices[rows, ranks]],
                           "similarity": top.scores[rows, ranks].astype(np.float64)})]
    # Movies EASE did not fit (no one liked them, or past its guard on the item count) keep
    # their cosine neighbours, so every movie with enough ratings has a list.
    unfitted = np.setdiff1d(np.arange(len(data.ids)), fitted.kept)
    if unfitted.size:
        unit = unit_rows(data.matrix)
        own = sp.csr_matrix((np.ones(unfitted.size), (np.arange(unfitted.size), unfitted)),
                            shape=(unfitted.size, len(data.ids)))
        near = product_top_k(unit[unfitted], unit.T.tocsr(), k, exclude=own)
        r, c = near.entries()
        parts.append(pd.DataFrame({"movieId": data.ids[unfitted[r]], "rank": c + 1,
                                   "similar_movieId": data.ids[near.indices[r, c]],
                                   "similarity": near.scores[r, c].astype(np.float64)}))
    table = pd.concat(parts, ignore_index=True).sort_values(["movieId", "rank"], kind="stable",
                                                            ignore_index=True)
    table["similarity"] = table["similarity"].round(6)
    facts = {"ease": {"lambda": fitted.lam, "movies_fitted": int(len(fitted.kept)),
                      "movies_past_guard": fitted.dropped,
                      "movies_with_cosine_lists": int(unfitted.size), "max_items": ease.MAX_ITEMS,
                      "liked": f"rating >= {LIKED:g}", "fit_seconds": round(fitted.seconds, 2)}}
    return table, facts


def _item_knn(data: Rated, k: int, *, progress: bool = False, **_) -> tuple[pd.DataFrame, dict]:
    near = cosine_top_k(data.matrix, k, progress=progress)  # shared with similar customers
    rows, ranks = near.entries()
    table = pd.DataFrame({
        "movieId": data.ids[rows], "rank": ranks + 1, "similar_movieId": data.ids[near.indices[rows, ranks]],
        "similarity": near.scores[rows, ranks].astype(np.float64).round(6),
    })
    return table, {}


MODELS = Models("similar_movies")
MODELS.register(Model("ease", "EASE: learned from who liked what (default)", "EASE weights from who liked what",
                      _ease))
MODELS.register(Model("item-knn", "item k-NN: cosine on the ratings",
                      "cosine between movie rows of the movie x user rating matrix", _item_knn, unit_scale=True))


def write(result: SimilarMovies, out: Path, inputs: dict | None = None, rebuild: str | None = None) -> Path:
    return write_tables(out, KIND, FORMAT_VERSION, {**result.manifest, "inputs": inputs or {}},
                        {"similar_movies.csv": result.neighbours, "movies.csv": result.movies}, rebuild or REBUILD)


def load(folder: Path) -> SimilarMovies:
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        return SimilarMovies(art.table("similar_movies.csv"), art.table("movies.csv"), art.manifest)


def item_id(result: SimilarMovies, query) -> int | str:
    """An item id as the result keys it: MovieLens' are whole numbers, a shop's may be text. Ids
    come as text from links, the API and the CLI; InputError for one that is not an item's."""
    if pd.api.types.is_integer_dtype(result.movies["movieId"]):
        text = str(query)
        # ASCII digits only ("²".isdigit() is True and int("²") fails), and few enough for int64
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise InputError(f"unknown item id {text!r} (this data set's ids are whole numbers)")
        return int(text)
    return str(query)


def answer(result: SimilarMovies, query: str, k: int | None = None) -> pd.DataFrame:
    """Item `query`'s most similar items, best first: rank, id, score (the similarity), title,
    genres, n_ratings and mean_rating."""
    k = None if k is None else check_k(k)
    table = result.movies.set_index("movieId")
    movie_id = item_id(result, query)
    if movie_id not in table.index:
        raise InputError(f"unknown item id {str(movie_id)!r}")
    rows = result.neighbours[result.neighbours["movieId"] == movie_id]
    if rows.empty:
        n = int(table.at[movie_id, "n_ratings"])
        raise InputError(f"{display_title(table.at[movie_id, 'title'])} has {n} rating(s), fewer than the "
                         f"{result.manifest['min_ratings']} needed for neighbours; lower --min-ratings.")
    rows = rows.head(k) if k else rows
    info = table.loc[rows["similar_movieId"], ["title", "genres", "n_ratings", "mean_rating"]].copy()
    info["title"] = info["title"].map(display_title)
    found = rows[["rank", "similar_movieId", "similarity"]].rename(columns={"similar_movieId": "id",
                                                                          "similarity": "score"})
    found["id"] = found["id"].astype(str)  # ids are text in every answer (common/shape.py)
    return pd.concat([found.reset_index(drop=True), info.reset_index(drop=True)], axis=1)
