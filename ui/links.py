"""What a link carries: the view a user would share (the customer, the title, the product, the
data set) lives in the page's query parameters, so opening the link shows the same view.

Sliders, toggles and text boxes use Streamlit's own `bind="query-params"` (the widget key is the
parameter name). Pickers whose options are ids shown under long labels use these two helpers
instead, so the URL holds the id (`?customer=17850`), not the label Streamlit would write.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st

_SHARED = "_shared_"  # session key prefix: the value `share` last wrote into the address


def linked(key: str, parse: Callable[[str], Any] = str) -> Any | None:
    """The value `?key=...` asks for, parsed; None when absent or not parseable."""
    raw = st.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except (TypeError, ValueError):
        return None


def asked(key: str, parse: Callable[[str], Any] = str) -> Any | None:
    """The value a link asks for: `linked(key)` when the address holds a value `share` did not
    write (a link opened, an address typed), else None (what this session itself wrote, perhaps on
    another page)."""
    wanted = linked(key, parse)
    return None if wanted is None or str(wanted) == st.session_state.get(_SHARED + key) else wanted


def pick(key: str, options: Sequence, default_index: int = 0, parse: Callable[[str], Any] = str) -> dict:
    """Keyword arguments for a picker (`st.selectbox(label, options, **pick(...))`) that opens on
    the linked value when it is one of the options, else on what this session chose last (when
    still an option), else on `default_index`; call `share` after.

    A new link wins over the session: the address holds what `share` last wrote, so a value
    there that `share` did not write comes from a link (a page link with query parameters, an
    address typed) asking for another view, and that is the view to show."""
    wanted = asked(key, parse)
    if wanted is not None and wanted in options:
        st.session_state[key] = wanted
        st.session_state[_SHARED + key] = str(wanted)
        return {"key": key}
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]  # another page's or another data set's choice
    if key not in st.session_state:
        return {"key": key, "index": default_index}
    return {"key": key}


def share(key: str, value: Any) -> None:
    """Write the shown value into the URL (no rerun), so the address bar links to this view;
    None takes it out."""
    st.session_state[_SHARED + key] = None if value is None else str(value)
    if value is None:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
