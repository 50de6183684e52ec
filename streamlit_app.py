"""Vitrine's entry point: a title and one tab per feature; the pages live in ui/.

Kept thin on purpose: no TensorFlow here (the visual search page imports embed/ lazily),
and each tab renders inside a guard so one broken tab never takes the others down.
"""
from __future__ import annotations

import traceback
from typing import Callable

import streamlit as st

from ui import basket_rules, similar_customers, similar_movies, similar_products, visual_search

TABS: list[tuple[str, Callable[[], None]]] = [
    ("Visual search", visual_search.render),
    ("Basket rules", basket_rules.render),
    ("Similar products", similar_products.render),
    ("Similar customers", similar_customers.render),
    ("Similar movies", similar_movies.render),
]


def render_guarded(label: str, render: Callable[[], None]) -> None:
    """Run one tab's render; on any error show a one-line message and the traceback folded away."""
    try:
        render()
    except Exception as exc:  # noqa: BLE001 - the point is that no tab error escapes
        st.error(f"The {label} tab failed: {type(exc).__name__}: {exc}".splitlines()[0])
        with st.expander("Details"):
            st.code(traceback.format_exc(), language="text")


st.set_page_config(page_title="Vitrine", page_icon="🛍️", layout="wide")
st.title("Vitrine")
st.caption("Visual search and recommendations for a shop: find products from a photo, "
           "and see what to suggest next to each product and customer.")

tabs = st.tabs([label for label, _ in TABS])
# Visual search shows first but renders last: it may load TensorFlow and the model (seconds on a
# cold start), and the analysts' tabs should not wait for that.
for position in [*range(1, len(TABS)), 0]:
    label, render = TABS[position]
    with tabs[position]:
        render_guarded(label, render)
