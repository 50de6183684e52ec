"""Similar movies page: search a title, see its rating summary and its ten nearest movies.

A link opens the same view: `?movie=<movieId>` picks the movie (its title fills the search box)
and `?min_ratings=N` sets the threshold.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

import settings
from common.errors import InputError
from recommend.similar_movies import TitleIndex, answer, build
from recommend.similar_movies.model import DEFAULT_CENTRE, DEFAULT_MIN_RATINGS
from recommend.similar_movies.titles import display_title
from ui.downloads import offer
from ui.links import linked, pick, share
from ui.memory import release

K = 10
QUERY = "sm_query"


@st.cache_resource(show_spinner=False)  # shared, read-only: no copy per call
def _demo_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(settings.DEMO_MOVIELENS_RATINGS), pd.read_csv(settings.DEMO_MOVIELENS_MOVIES)


@st.cache_resource(show_spinner="Finding similar movies...")
def _neighbours(min_ratings: int):
    """Item k-NN for this threshold; built once per threshold and process (0.1 s on the demo)."""
    ratings, movies = _demo_tables()
    result = build(ratings, movies, k=K, min_ratings=min_ratings, centre=DEFAULT_CENTRE)
    release()
    return result


@st.cache_resource(show_spinner=False)
def _titles(min_ratings: int) -> TitleIndex:
    return TitleIndex(_neighbours(min_ratings).movies)


def genres_text(genres) -> str:
    """MovieLens' "Action|Sci-Fi" as "Action · Sci-Fi", the one way genres are shown."""
    text = "" if genres is None or (isinstance(genres, float) and pd.isna(genres)) else str(genres)
    return " · ".join(g for g in text.split("|") if g and g != "(no genres listed)") or "–"


def _linked_title(result) -> str:
    """The search box's first text: the linked movie's title, else the example."""
    movie = linked("movie", int)
    movies = result.movies.set_index("movieId")
    return display_title(movies.at[movie, "title"]) if movie in movies.index else "Toy Story"


def render() -> None:
    st.subheader("Similar movies")
    st.caption("Item k-nearest-neighbours: movies rated alike by the same people (cosine on the "
               "MovieLens ratings; demo sample of 610 users and the 1,500 most-rated movies).")
    left, right = st.columns([3, 2])
    with right:
        min_ratings = st.slider("Minimum number of ratings", 1, 100, DEFAULT_MIN_RATINGS, key="min_ratings",
                                bind="query-params",
                                help="Movies rated by fewer people are left out on both sides.")
    result = _neighbours(min_ratings)
    if QUERY not in st.session_state:
        st.session_state[QUERY] = _linked_title(result)
    query = left.text_input("Search a title", key=QUERY, placeholder="e.g. matrix, amelie, star wars")
    found = _titles(min_ratings).search(query, limit=20)
    if found.matches.empty:
        if found.suggestions:
            st.warning(f"No title matches {query!r}. Did you mean: {'; '.join(found.suggestions)}?")
        else:
            st.info(f"No title is close to {query!r}; type part of a movie title." if query.strip()
                    else "Type part of a movie title.")
        return
    labels = {int(r.movieId): r.title for r in found.matches.itertuples()}
    options = list(labels)
    movie_id = st.selectbox(f"{len(labels)} matching title(s)", options, format_func=labels.get,
                            **pick("movie", options, parse=int))
    share("movie", movie_id)
    info = result.movies.set_index("movieId").loc[movie_id]
    a, b, c = st.columns([1, 1, 3])
    a.metric("Ratings", f"{int(info['n_ratings']):,}")
    b.metric("Mean rating", f"{info['mean_rating']:.2f} / 5" if info["n_ratings"] else "–")
    c.markdown("**Genres**  \n" + genres_text(info["genres"]))
    try:
        neighbours = answer(result, movie_id, K)
    except InputError as exc:  # too few ratings for this threshold
        st.warning(str(exc))
        return
    table = neighbours[["rank", "title", "similarity", "genres", "n_ratings", "mean_rating"]].copy()
    table["genres"] = table["genres"].map(genres_text)
    st.dataframe(
        table, hide_index=True, width="stretch", row_height=48,  # two lines: long titles wrap, not cut
        column_config={
            "rank": st.column_config.NumberColumn("#", width=40),
            "title": st.column_config.TextColumn("Similar movie", width="large"),
            "similarity": st.column_config.ProgressColumn("Similarity", min_value=0.0, max_value=1.0,
                                                          format="%.2f", width="small"),
            "genres": st.column_config.TextColumn("Genres", width="medium"),
            "n_ratings": st.column_config.NumberColumn("Ratings", width="small"),
            "mean_rating": st.column_config.NumberColumn("Mean rating", format="%.2f", width="small"),
        },
    )
    offer("these similar movies", table, f"similar_movies_{movie_id}", "sm_download")
