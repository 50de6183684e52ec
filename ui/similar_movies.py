"""Similar movies page: search a title, see its rating summary and its ten nearest movies.

A link opens the same view: `?movie=<movieId>` picks the movie (its title fills the search box)
and `?min_ratings=N` sets the threshold.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from common.errors import InputError
from recommend.similar_movies import TitleIndex, answer, build
from recommend.similar_movies.model import DEFAULT_CENTRE, DEFAULT_MIN_RATINGS, DEFAULT_MODEL, MODELS, item_id
from recommend.similar_movies.titles import display_title
from shop.registry import DataSet
from ui import quality
from ui.datasets import choose
from ui.downloads import offer
from ui.links import linked, pick, share
from ui.memory import loaded

K = 10
QUERY = "sm_query"




@st.cache_resource(show_spinner=False, max_entries=4)  # shared, read-only: no copy per call
def _tables(name: str, version: tuple, _ds: DataSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ratings, items) of a data set, read once per version."""
    return _ds.ratings()


@st.cache_resource(show_spinner="Finding similar items...", max_entries=16)
def _neighbours(name: str, version: tuple, min_ratings: int, model: str, _ds: DataSet):
    """Similar items for this data, threshold and model; built once each per process (0.1-0.5 s on the demo)."""
    ratings, movies = _tables(name, version, _ds)
    result = build(ratings, movies, k=K, min_ratings=min_ratings, centre=DEFAULT_CENTRE, model=model)
    loaded()
    return result


@st.cache_resource(show_spinner=False, max_entries=16)
def _titles(name: str, version: tuple, min_ratings: int, _ds: DataSet) -> TitleIndex:
    # the titles are the same for every model
    return TitleIndex(_neighbours(name, version, min_ratings, DEFAULT_MODEL, _ds).movies)


# A rerun shows what the last one showed unless the query, the item or the model changed: the
# lookups are kept per data version (measured under bench/soak.py: the title search, the answer
# and re-indexing the items were a third of this page's time per rerun).
@st.cache_resource(show_spinner=False, max_entries=256)
def _found(name: str, version: tuple, min_ratings: int, query: str, _ds: DataSet):
    return _titles(name, version, min_ratings, _ds).search(query, limit=20)


@st.cache_resource(show_spinner=False, max_entries=16)
def _items_by_id(name: str, version: tuple, min_ratings: int, _ds: DataSet) -> pd.DataFrame:
    # the items' counts are the same for every model, as the titles are
    return _neighbours(name, version, min_ratings, DEFAULT_MODEL, _ds).movies.set_index("movieId")


@st.cache_resource(show_spinner=False, max_entries=256)
def _shown(name: str, version: tuple, min_ratings: int, model: str, movie_id, _ds: DataSet) -> pd.DataFrame:
    """One item's neighbours as the page's table (InputError, never cached, when it has too few ratings)."""
    neighbours = answer(_neighbours(name, version, min_ratings, model, _ds), movie_id, K)
    table = neighbours[["rank", "title", "score", "genres", "n_ratings", "mean_rating"]].rename(
        columns={"score": "similarity"})
    table["genres"] = table["genres"].map(genres_text)
    return table


def genres_text(genres) -> str:
    """MovieLens' "Action|Sci-Fi" as "Action · Sci-Fi", the one way genres are shown."""
    text = "" if genres is None or (isinstance(genres, float) and pd.isna(genres)) else str(genres)
    return " · ".join(g for g in text.split("|") if g and g != "(no genres listed)") or "–"


def _id_parser(result):
    """Ids in links are text; the recommender reads them as its items are keyed (numbers or text)."""
    return lambda text: item_id(result, text)


def _linked_title(result, example: str) -> str:
    """The search box's first text: the linked item's title, else the example."""
    movie = linked("movie", _id_parser(result))
    movies = result.movies.set_index("movieId")
    return display_title(movies.at[movie, "title"]) if movie in movies.index else example


def render() -> None:
    st.subheader("Similar movies")
    top = st.columns([3, 2])
    chosen = choose("similar_movies", top[0])
    version = chosen.version("similar_movies")
    models = list(MODELS)
    model = top[1].selectbox("Model", models, format_func=lambda name: MODELS[name].label,
                             **pick("model", models, models.index(DEFAULT_MODEL)),
                             help="EASE learns which items people who liked one went on to like; it ranks each "
                                  "user's next favourites better than the cosine k-NN (How good is this?, below).")
    share("model", model)
    st.caption(f"Movies (or any rated items) that go together, by {MODELS[model].label.split(':')[0]}: "
               f"{MODELS[model].about}.")
    quality.section("similar_movies", chosen)
    left, right = st.columns([3, 2])
    with right:
        min_ratings = st.slider("Minimum number of ratings", 1, 100, DEFAULT_MIN_RATINGS, key="min_ratings",
                                bind="query-params",
                                help="Items rated by fewer people are left out on both sides.")
    result = _neighbours(chosen.name, version, min_ratings, model, chosen)
    parse = _id_parser(result)
    if QUERY not in st.session_state:
        most_rated = result.movies.sort_values("n_ratings", ascending=False)["title"].iloc[0]
        example = chosen.demo.example if chosen.is_demo and chosen.demo.example else display_title(most_rated)
        st.session_state[QUERY] = _linked_title(result, example)
    query = left.text_input("Search a title", key=QUERY, placeholder="e.g. matrix, amelie, star wars")
    found = _found(chosen.name, version, min_ratings, query, chosen)
    if found.matches.empty:
        if found.suggestions:
            st.warning(f"No title matches {query!r}. Did you mean: {'; '.join(found.suggestions)}?")
        else:
            st.info(f"No title is close to {query!r}; type part of a movie title." if query.strip()
                    else "Type part of a movie title.")
        return
    labels = {parse(r.movieId): r.title for r in found.matches.itertuples()}
    options = list(labels)
    movie_id = st.selectbox(f"{len(labels)} matching title(s)", options, format_func=labels.get,
                            **pick("movie", options, parse=parse))
    share("movie", movie_id)
    info = _items_by_id(chosen.name, version, min_ratings, chosen).loc[movie_id]
    a, b, c = st.columns([1, 1, 3])
    a.metric("Ratings", f"{int(info['n_ratings']):,}")
    b.metric("Mean rating", f"{info['mean_rating']:.2f} / 5" if info["n_ratings"] else "–")
    c.markdown("**Genres**  \n" + genres_text(info["genres"]))
    try:
        table = _shown(chosen.name, version, min_ratings, model, movie_id, chosen)
    except InputError as exc:  # too few ratings for this threshold
        st.warning(str(exc))
        return
    st.dataframe(
        table, hide_index=True, width="stretch", row_height=48,  # two lines: long titles wrap, not cut
        column_config={
            "rank": st.column_config.NumberColumn("#", width=40),
            "title": st.column_config.TextColumn("Similar movie", width="large"),
            "similarity": st.column_config.ProgressColumn(
                "Similarity", min_value=0.0, format="%.3f", width="small",
                # cosine is on 0..1; EASE's weights are shown against the list's best
                max_value=1.0 if MODELS[model].unit_scale else max(float(table["similarity"].max()), 1e-9)),
            "genres": st.column_config.TextColumn("Genres", width="medium"),
            "n_ratings": st.column_config.NumberColumn("Ratings", width="small"),
            "mean_rating": st.column_config.NumberColumn("Mean rating", format="%.2f", width="small"),
        },
    )
    offer("these similar movies", table, f"similar_movies_{movie_id}", "sm_download")
