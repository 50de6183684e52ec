"""The Similar movies tab through AppTest, on the committed MovieLens sample."""
from __future__ import annotations


import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import settings
from tests.helpers import APP

pytestmark = pytest.mark.slow  # runs the Streamlit app



def movies_tab(app_uses_tiny_index):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at, at.tabs[4]


def test_default_title_shows_ten_similar_movies_with_stats(app_uses_tiny_index):
    at, tab = movies_tab(app_uses_tiny_index)
    assert tab.selectbox(key="sm_pick").value == 1  # Toy Story (1995), the best match
    table = tab.dataframe[0].value
    assert len(table) == 10
    assert "Toy Story 2 (1999)" in set(table["title"])
    assert table["similarity"].is_monotonic_decreasing
    assert {"n_ratings", "mean_rating", "genres"} <= set(table.columns)
    assert [m.label for m in tab.metric] == ["Ratings", "Mean rating"]
    assert tab.metric[0].value == "215"  # Toy Story's ratings in the sample
    assert any("Animation" in m.value for m in tab.markdown)


def test_typo_gives_suggestions_and_no_table(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value("godfathr").run()
    tab = at.tabs[4]
    assert "The Godfather (1972)" in tab.warning[0].value
    assert not tab.dataframe


def test_accented_partial_query_and_threshold(app_uses_tiny_index):
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value("AMÉLIE").run()
    tab = at.tabs[4]
    assert "Amelie" in tab.selectbox(key="sm_pick").format_func(tab.selectbox(key="sm_pick").value)
    assert len(tab.dataframe[0].value) == 10


def test_a_movie_below_the_threshold_explains_why_it_has_no_neighbours(app_uses_tiny_index):
    ratings = pd.read_csv(settings.DEMO_MOVIELENS_RATINGS)
    movies = pd.read_csv(settings.DEMO_MOVIELENS_MOVIES).set_index("movieId")
    rare = ratings["movieId"].value_counts().idxmin()  # fewer than 100 ratings in the sample
    at, _ = movies_tab(app_uses_tiny_index)
    at.text_input(key="sm_query").set_value(movies.at[rare, "title"]).run()
    at.selectbox(key="sm_pick").set_value(int(rare)).run()
    assert len(at.tabs[4].dataframe[0].value) == 10
    at.slider(key="sm_min").set_value(100).run()
    tab = at.tabs[4]
    assert not at.exception and not tab.dataframe
    assert "fewer than the 100 needed" in tab.warning[0].value
