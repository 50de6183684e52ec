"""The "Visual search" tab: a shopper uploads a photo and sees the most similar catalogue products."""
from __future__ import annotations

import streamlit as st


def render() -> None:
    """Show the Visual search tab."""
    st.subheader("Visual search")
    st.info("Not built yet: upload a photo and get the five most similar catalogue products.")
