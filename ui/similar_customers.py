"""The "Similar customers" tab: user-user cosine similarity on the customer × product purchase matrix."""
from __future__ import annotations

import streamlit as st


def render() -> None:
    """Show the Similar customers tab."""
    st.subheader("Similar customers")
    st.info("Not built yet: user-user cosine on purchases, to suggest what similar customers bought and this one did not.")
