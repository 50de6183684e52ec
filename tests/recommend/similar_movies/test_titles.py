"""Title lookup: case, accents, partial words, typos, MovieLens' trailing articles, suggestions."""
from __future__ import annotations

import pandas as pd
import pytest

import settings
from common.text_match import fold
from recommend.similar_movies.model import movie_stats
from recommend.similar_movies.titles import TitleIndex, display_title

MOVIES = pd.DataFrame({
    "movieId": [1, 2, 3, 4, 5, 6],
    "title": ["Toy Story (1995)", "Toy Story 2 (1999)", "Matrix, The (1999)",
              "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Godfather, The (1972)",
              "Story of Us, The (1999)"],
    "n_ratings": [215, 97, 278, 120, 192, 10],
})


def titles(query: str) -> list[str]:
    return list(TitleIndex(MOVIES).search(query).matches["title"])


def test_display_moves_trailing_article_to_the_front():
    assert display_title("Matrix, The (1999)") == "The Matrix (1999)"
    assert display_title("Toy Story (1995)") == "Toy Story (1995)"


@pytest.mark.parametrize("query", ["toy story", "TOY STORY", "toy sto", "  Toy   Story "])
def test_case_spacing_and_partial_words(query):
    assert titles(query)[:2] == ["Toy Story (1995)", "Toy Story 2 (1999)"]


def test_accents_are_ignored_both_ways():
    assert fold("Amélie") == "amelie"
    assert titles("AMÉLIE") == titles("amelie") == ["Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"]


def test_article_order_does_not_matter_and_exact_name_ranks_first():
    assert titles("the matrix") == ["The Matrix (1999)"]
    assert titles("matrix the") == ["The Matrix (1999)"]
    assert titles("story")[0] == "Toy Story (1995)"  # most rated among partial matches
    assert titles("toy story")[0] == "Toy Story (1995)"  # exact name before "Toy Story 2"


def test_several_matches_come_with_their_year():
    found = TitleIndex(MOVIES).search("story").matches
    assert set(found["year"]) == {1995, 1999}
    assert len(found) == 3


def test_a_typo_is_a_match_and_only_a_worse_one_is_a_suggestion():
    # "godfathr" gave only a suggestion before typos were matched; one letter off is a match now.
    result = TitleIndex(MOVIES).search("godfathr")
    assert list(result.matches["title"]) == ["The Godfather (1972)"] and result.suggestions == []
    far = TitleIndex(MOVIES).search("gotfadder")  # three errors: more than a 9-letter word may hold
    assert far.matches.empty
    assert far.suggestions[0] == "The Godfather (1972)"
    nonsense = TitleIndex(MOVIES).search("qqqqzzzz")
    assert nonsense.matches.empty and nonsense.suggestions == []


def test_empty_query_finds_nothing():
    result = TitleIndex(MOVIES).search("  ")
    assert result.matches.empty and result.suggestions == []
    assert list(result.matches.columns) == ["movieId", "title", "year", "n_ratings"]


@pytest.fixture(scope="module")
def demo_index() -> TitleIndex:
    """The committed MovieLens sample with its rating counts, as the app builds it."""
    movies = pd.read_csv(settings.DEMO_MOVIELENS_MOVIES)
    stats = movie_stats(pd.read_csv(settings.DEMO_MOVIELENS_RATINGS))
    return TitleIndex(movies.merge(stats, on="movieId", how="left").fillna({"n_ratings": 0}))


def test_demo_typos_find_amelie_the_matrix_and_the_godfather(demo_index):
    amelie = demo_index.search("amelei").matches
    assert amelie["title"].iloc[0] == "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    assert amelie["movieId"].iloc[0] == 4973
    matrix = demo_index.search("matrx").matches
    assert list(matrix["title"][:3]) == ["The Matrix (1999)", "The Matrix Reloaded (2003)",
                                         "The Matrix Revolutions (2003)"]
    assert matrix["n_ratings"].is_monotonic_decreasing  # equally close: the most rated first
    assert demo_index.search("godfathr").matches["title"].iloc[0] == "The Godfather (1972)"
    assert demo_index.search("matrx rel").matches["title"].iloc[0] == "The Matrix Reloaded (2003)"


def test_demo_both_title_orders_and_exact_words_before_typos(demo_index):
    for query in ("the matrix", "matrix the", "Matrix, The (1999)", "The Matrix (1999)"):
        assert demo_index.search(query).matches["title"].iloc[0] == "The Matrix (1999)", query
    found = list(demo_index.search("matrix").matches["title"])
    assert found[:3] == ["The Matrix (1999)", "The Matrix Reloaded (2003)", "The Matrix Revolutions (2003)"]
    assert "The Animatrix (2003)" in found[3:]  # inside a word: after the word starts
    assert demo_index.search("qqqqzzzz").matches.empty
