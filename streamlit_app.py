"""Vitrine's entry point: a title and one page per tool, each at its own URL; the pages live in ui/.

Only the open page runs on a click (`st.navigation`), so a slider in Similar movies never
re-renders Visual search. Kept thin on purpose: no TensorFlow here (the visual search page
imports embed/ lazily), and the page renders inside a guard so a broken page shows one line
and leaves the others working.
"""
from __future__ import annotations

import traceback

import streamlit as st

from ui.pages import PAGES

st.set_page_config(page_title="Vitrine", page_icon="🛍️", layout="wide")
page = st.navigation([st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default)
                      for p in PAGES], position="top")
st.title("Vitrine")
st.caption("Visual search and recommendations for a shop: find products from a photo, "
           "and see what to suggest next to each product and customer.")
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - the point is that no page error escapes
    st.error(f"The {page.title} page failed: {type(exc).__name__}: {exc}".splitlines()[0])
    with st.expander("Details"):
        st.code(traceback.format_exc(), language="text")
