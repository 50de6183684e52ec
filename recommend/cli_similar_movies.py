"""`python -m recommend similar-movies`: build item k-NN over MovieLens ratings, or ask for one title."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from recommend.cli import InputError
from recommend.movie_titles import TitleIndex
from recommend.similar_movies import (
    CENTRES, DEFAULT_CENTRE, DEFAULT_K, DEFAULT_MIN_RATINGS, build_similar_movies, read_movies,
    read_ratings, similar_to, write_similar_movies,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar-movies", help="movies similar to each movie (item k-NN, cosine)",
                       description="Item k-nearest-neighbours on a MovieLens-style ratings file.")
    p.add_argument("--ratings", type=Path, default=settings.DEMO_MOVIELENS_RATINGS,
                   help="CSV with userId, movieId, rating (default: the demo sample)")
    p.add_argument("--movies", type=Path, default=settings.DEMO_MOVIELENS_MOVIES,
                   help="CSV with movieId, title, genres (default: the demo sample)")
    p.add_argument("-k", type=int, default=DEFAULT_K, help="neighbours per movie")
    p.add_argument("--min-ratings", type=int, default=DEFAULT_MIN_RATINGS,
                   help="movies with fewer ratings get no neighbours and are no one's neighbour")
    p.add_argument("--centre", choices=CENTRES, default=DEFAULT_CENTRE,
                   help="subtract each user's mean rating first (user) or not (none)")
    p.add_argument("--out", type=Path, default=None, help="artifact folder to write")
    p.add_argument("--title", default=None, help="print the movies similar to this title")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.out is None and args.title is None:
        raise InputError("Give --out DIR to write the neighbours, --title \"...\" to see one answer, or both.")
    ratings, movies = read_ratings(args.ratings), read_movies(args.movies)
    result = build_similar_movies(ratings, movies, k=args.k, min_ratings=args.min_ratings,
                                  centre=args.centre, progress=sys.stderr.isatty())
    if args.out is not None:
        write_similar_movies(result, args.out, {"ratings": str(args.ratings), "movies": str(args.movies)})
        m = result.manifest
        print(f"Wrote neighbours of {m['movies_with_neighbours']} movies (k={m['k']}, min ratings "
              f"{m['min_ratings']}, centre {m['centre']}) to {args.out} in {m['seconds']} s.")
    if args.title is not None:
        return _print_answer(result, args.title, args.k)
    return 0


def _print_answer(result, title: str, k: int) -> int:
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
    answer = similar_to(result, int(best["movieId"]), k)
    for row in answer.itertuples():
        print(f"  {row.rank:>2}. {row.similarity:.3f}  {row.title}  [{row.genres}]  "
              f"{row.n_ratings} ratings, mean {row.mean_rating}")
    return 0
