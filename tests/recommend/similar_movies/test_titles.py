"""Title lookup: case, accents, partial words, MovieLens' trailing articles, suggestions."""
from __future__ import annotations

import pandas as pd
import pytest

from recommend.similar_movies.titles import TitleIndex, display_title, fold

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


def test_unknown_title_suggests_the_closest():
    result = TitleIndex(MOVIES).search("godfathr")
    assert result.matches.empty
    assert result.suggestions[0] == "The Godfather (1972)"
