"""Similar movies tab: search a title, see its rating summary and its ten nearest movies."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import settings
from common.errors import InputError
from recommend.similar_movies import TitleIndex, answer, build
from recommend.similar_movies.model import DEFAULT_CENTRE, DEFAULT_MIN_RATINGS

K = 10


@st.cache_data(show_spinner=False)
def _demo_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(settings.DEMO_MOVIELENS_RATINGS), pd.read_csv(settings.DEMO_MOVIELENS_MOVIES)


@st.cache_resource(show_spinner="Finding similar movies...")
def _neighbours(min_ratings: int):
    """Item k-NN for this threshold; built once per threshold and process (0.1 s on the demo)."""
    ratings, movies = _demo_tables()
    return build(ratings, movies, k=K, min_ratings=min_ratings, centre=DEFAULT_CENTRE)


@st.cache_resource(show_spinner=False)
def _titles(min_ratings: int) -> TitleIndex:
    return TitleIndex(_neighbours(min_ratings).movies)


def render() -> None:
    st.subheader("Similar movies")
    st.caption("Item k-nearest-neighbours: movies rated alike by the same people (cosine on the "
               "MovieLens ratings; demo sample of 610 users and the 1,500 most-rated movies).")
    left, right = st.columns([3, 2])
    query = left.text_input("Search a title", value="Toy Story", key="sm_query",
                            placeholder="e.g. matrix, amelie, star wars")
    min_ratings = right.slider("Minimum number of ratings", 1, 100, DEFAULT_MIN_RATINGS, key="sm_min",
                               help="Movies rated by fewer people are left out on both sides.")
    result = _neighbours(min_ratings)
    found = _titles(min_ratings).search(query, limit=20)
    if found.matches.empty:
        if found.suggestions:
            st.warning(f"No title matches {query!r}. Did you mean: {'; '.join(found.suggestions)}?")
        else:
            st.info("Type part of a movie title.")
        return
    labels = {int(r.movieId): r.title for r in found.matches.itertuples()}
    movie_id = st.selectbox(f"{len(labels)} matching title(s)", list(labels), format_func=labels.get,
                            key="sm_pick")
    info = result.movies.set_index("movieId").loc[movie_id]
    a, b, c = st.columns([1, 1, 3])
    a.metric("Ratings", f"{int(info['n_ratings']):,}")
    b.metric("Mean rating", f"{info['mean_rating']:.2f} / 5" if info["n_ratings"] else "–")
    c.markdown("**Genres**  \n" + (str(info["genres"]).replace("|", " · ") or "–"))
    try:
        neighbours = answer(result, movie_id, K)
    except InputError as exc:  # too few ratings for this threshold
        st.warning(str(exc))
        return
    st.dataframe(
        neighbours[["rank", "title", "similarity", "genres", "n_ratings", "mean_rating"]],
        hide_index=True, width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn("#", width="small"),
            "title": st.column_config.TextColumn("Similar movie", width="large"),
            "similarity": st.column_config.ProgressColumn("Similarity", min_value=0.0, max_value=1.0,
                                                          format="%.2f"),
            "genres": st.column_config.TextColumn("Genres"),
            "n_ratings": st.column_config.NumberColumn("Ratings"),
            "mean_rating": st.column_config.NumberColumn("Mean rating", format="%.2f"),
        },
    )
