"""`python -m recommend similar-movies`: each movie's most similar movies (EASE or item k-NN) over
MovieLens-style ratings, or one title's."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from common.errors import InputError
from recommend.cli import add_from, require_query
from recommend.similar_movies import model
from recommend.similar_movies.titles import TitleIndex


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Similar movies (or any rated items) from a MovieLens-style ratings file: EASE or item k-NN."
    p.add_argument("--ratings", type=Path, default=settings.DEMO_MOVIELENS_RATINGS,
                   help="CSV with userId, movieId, rating (default: the demo sample)")
    p.add_argument("--movies", type=Path, default=settings.DEMO_MOVIELENS_MOVIES,
                   help="CSV with movieId, title, genres (default: the demo sample)")
    p.add_argument("-k", type=int, default=model.DEFAULT_K, help="neighbours per movie")
    p.add_argument("--min-ratings", type=int, default=model.DEFAULT_MIN_RATINGS,
                   help="movies with fewer ratings get no neighbours and are no one's neighbour")
    p.add_argument("--centre", choices=model.CENTRES, default=model.DEFAULT_CENTRE,
                   help="subtract each user's mean rating first (user) or not (none)")
    p.add_argument("--model", choices=model.MODELS, default=model.DEFAULT_MODEL, metavar="MODEL",
                   help=f"one of {', '.join(model.MODELS)}: ease (learned item-item weights from who liked what, the default: 1.27x item k-NN's "
                        "NDCG@10 in the evaluation of docs/recommenders.md; fitted on the 10,000 most liked items, the rest keep cosine "
                        "lists) or item-knn (cosine, the original notebook's)")
    p.add_argument("--ease-lambda", type=float, default=model.EASE_LAMBDA, help="EASE's regularisation")
    p.add_argument("--out", type=Path, default=None, help="artifact folder to write")
    p.add_argument("--title", default=None, help="print the movies similar to this title")
    add_from(p, "--title")


def run(args) -> int:
    require_query(args, args.title, "--title")
    if args.artifact is not None:
        return _print_answer(model.load(args.artifact), args.title, args.k)
    if args.out is None and args.title is None:
        raise InputError("Give --out DIR to write the neighbours, --title \"...\" to see one answer, or both.")
    ratings, movies = model.read_ratings(args.ratings), model.read_movies(args.movies)
    result = model.build(ratings, movies, k=args.k, min_ratings=args.min_ratings, centre=args.centre,
                         model=args.model, ease_lambda=args.ease_lambda, progress=sys.stderr.isatty())
    if args.out is not None:
        model.write(result, args.out, {"ratings": str(args.ratings), "movies": str(args.movies)},
                    rebuild=args.command_line)
        m = result.manifest
        print(f"Wrote neighbours of {m['movies_with_neighbours']} movies (k={m['k']}, min ratings "
              f"{m['min_ratings']}, centre {m['centre']}) to {args.out} in {m['seconds']} s.")
    if args.title is not None:
        return _print_answer(result, args.title, args.k)
    return 0


def _print_answer(result: model.SimilarMovies, title: str, k: int) -> int:
    found = TitleIndex(result.movies).search(title, limit=10)
    if found.matches.empty:
        hint = f" Did you mean: {'; '.join(found.suggestions)}?" if found.suggestions else ""
        raise InputError(f"No movie title matches {title!r}.{hint}")
    best = found.matches.iloc[0]
    if len(found.matches) > 1:
        others = "; ".join(found.matches["title"].iloc[1:6])
        print(f"{best['title']} (also matching: {others})")
    else:
        print(best["title"])
    print(f"  {best.get('genres', '')} · {int(best['n_ratings'])} ratings · mean {best['mean_rating']}")
    for row in model.answer(result, str(best["movieId"]), k).itertuples():
        print(f"  {row.rank:>2}. {row.score:.3f}  {row.title}  [{row.genres}]  "
              f"{row.n_ratings} ratings, mean {row.mean_rating}")
    return 0
