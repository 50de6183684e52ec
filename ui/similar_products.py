"""The "Similar products" tab: item-item co-occurrence, products bought in the same order."""
from __future__ import annotations

import streamlit as st


def render() -> None:
    """Show the Similar products tab."""
    st.subheader("Similar products")
    st.info("Not built yet: item-item co-occurrence (bought in the same order), to list the 5 most similar products.")
