"""What a link carries: the view a user would share (the customer, the title, the product, the
data set) lives in the page's query parameters, so opening the link shows the same view.

Sliders, toggles and text boxes use Streamlit's own `bind="query-params"` (the widget key is the
parameter name). Pickers whose options are ids shown under long labels use these two helpers
instead, so the URL holds the id (`?customer=17850`), not the label Streamlit would write.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st


def linked(key: str, parse: Callable[[str], Any] = str) -> Any | None:
    """The value `?key=...` asks for, parsed; None when absent or not parseable."""
    raw = st.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except (TypeError, ValueError):
        return None


def pick(key: str, options: Sequence, default_index: int = 0, parse: Callable[[str], Any] = str) -> dict:
    """Keyword arguments for a picker (`st.selectbox(label, options, **pick(...))`) that opens on
    the linked value when it is one of the options, else on `default_index`; call `share` after."""
    if key not in st.session_state:
        wanted = linked(key, parse)
        if wanted is not None and wanted in options:
            st.session_state[key] = wanted
            return {"key": key}
        return {"key": key, "index": default_index}
    return {"key": key}


def share(key: str, value: Any) -> None:
    """Write the shown value into the URL (no rerun), so the address bar links to this view;
    None takes it out."""
    if value is None:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
