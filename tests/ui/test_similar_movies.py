"""The Similar movies page through AppTest, on the committed MovieLens sample."""
from __future__ import annotations

import pandas as pd
import pytest

import settings
from tests.ui.pages import open_page

pytestmark = pytest.mark.slow  # runs the Streamlit app


def movies_tab(app_uses_tiny_index, **query):
    at = open_page("similar_movies", **query)
    return at, at


def test_default_title_shows_ten_similar_movies_with_stats(app_uses_tiny_index):
    at, tab = movies_tab(app_uses_tiny_index)
    assert tab.selectbox(key="movie").value == 1  # Toy Story (1995), the best match
    table = tab.dataframe[0].value
    assert len(table) == 10
    assert "Toy Story 2 (1999)" in set(table["title"])
    assert table["similarity"].is_monotonic_decreasing
    assert {"n_ratings", "mean_rating", "genres"} <= set(table.columns)
    assert [m.label for m in tab.metric] == ["Ratings", "Mean rating"]
    assert tab.metric[0].value == "215"  # Toy Story's ratings in the sample
    assert any("Animation" in m.value for m in tab.markdown)


def test_nonsense_gives_a_hint_and_no_table(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value("qqqqzzzz").run()
    assert not at.exception and not at.dataframe
    assert "qqqqzzzz" in " ".join(w.value for w in [*at.warning, *at.info])


def test_accented_partial_query_and_threshold(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value("AMÉLIE").run()
    tab = at
    assert "Amelie" in tab.selectbox(key="movie").format_func(tab.selectbox(key="movie").value)
    assert len(tab.dataframe[0].value) == 10


def test_a_movie_below_the_threshold_explains_why_it_has_no_neighbours(app_uses_tiny_index):
    ratings = pd.read_csv(settings.DEMO_MOVIELENS_RATINGS)
    movies = pd.read_csv(settings.DEMO_MOVIELENS_MOVIES).set_index("movieId")
    rare = ratings["movieId"].value_counts().idxmin()  # fewer than 100 ratings in the sample
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value(movies.at[rare, "title"]).run()
    at.selectbox(key="movie").set_value(int(rare)).run()
    assert len(at.dataframe[0].value) == 10
    at.slider(key="min_ratings").set_value(100).run()
    tab = at
    assert not at.exception and not tab.dataframe
    assert "fewer than the 100 needed" in tab.warning[0].value


@pytest.mark.parametrize("typed, found", [("amelei", "Amelie"), ("matrx", "The Matrix (1999)"),
                                                  ("godfathr", "The Godfather (1972)")])
def test_a_typo_still_finds_the_movie(app_uses_tiny_index, typed, found):
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value(typed).run()
    pick = at.selectbox(key="movie")
    assert pick.format_func(pick.value).startswith(found)
    assert len(at.dataframe[0].value) == 10


def test_genres_read_the_same_in_the_header_and_the_table(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index)
    genres = at.dataframe[0].value["genres"]
    assert not genres.str.contains("|", regex=False).any()
    assert genres.str.contains(" · ", regex=False).any()
    assert any("Animation · Children" in m.value for m in at.markdown)


def test_a_link_opens_that_movie_at_that_threshold(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index, movie="2571", min_ratings="50")  # The Matrix (1999)
    assert at.selectbox(key="movie").value == 2571
    assert at.text_input(key="sm_query").value == "The Matrix (1999)"
    assert at.slider(key="min_ratings").value == 50
    assert len(at.dataframe[0].value) == 10 and (at.dataframe[0].value["n_ratings"] >= 50).all()
    assert at.query_params["movie"] == "2571"
