"""The "Basket rules" tab: frequent itemsets and association rules from shopping baskets."""
from __future__ import annotations

import streamlit as st


def render() -> None:
    """Show the Basket rules tab."""
    st.subheader("Basket rules")
    st.info(
        "Not built yet: association rules (support, confidence, lift) from shopping baskets, "
        'and "3 items to show next to X", topped up with the best sellers.'
    )
