"""The "Similar movies" tab: item k-nearest-neighbours on the MovieLens ratings matrix."""
from __future__ import annotations

import streamlit as st


def render() -> None:
    """Show the Similar movies tab."""
    st.subheader("Similar movies")
    st.info("Not built yet: item k-NN (cosine) on MovieLens ratings, to find the movies most like a chosen one.")
