"""Similar movies (any rated items): item k-nearest-neighbours by cosine on a ratings matrix.

    ratings, movies = read_ratings(path), read_movies(path)
    result = build(ratings, movies, k=10, min_ratings=10)
    write(result, folder); result = load(folder)
    answer(result, "2571", 10)                   # its most similar movies, with titles (ids as text)
    TitleIndex(result.movies).search("toy story")  # find a movie by what a person types
"""
from recommend.similar_movies.model import (
    FORMAT_VERSION, KIND, SimilarMovies, answer, build, load, read_movies, read_ratings, write,
)
from recommend.similar_movies.titles import TitleIndex

__all__ = ["FORMAT_VERSION", "KIND", "SimilarMovies", "TitleIndex", "answer", "build", "load", "read_movies",
           "read_ratings", "write"]
