"""Similar customers page: pick a customer, see their history, the customers who buy alike and
what those bought that this one has not, with the reason. `?customer=<id>` links to one."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import settings
from common.errors import InputError
from common.text_match import Matcher
from recommend.similar_customers import PurchaseColumns, answer, build, find_customers, read_purchases
from ui.links import pick, share
from ui.downloads import offer
from ui.memory import release

COLS = PurchaseColumns()
SHOWN_NEIGHBOURS = 10


@st.cache_resource(show_spinner="Reading purchases...")  # shared, read-only: no copy per rerun
def _purchases() -> pd.DataFrame:
    return read_purchases(settings.DEMO_ONLINE_RETAIL, COLS)


@st.cache_resource(show_spinner="Finding similar customers...")
def _result():
    result = build(_purchases(), COLS)
    release()
    return result


@st.cache_resource(show_spinner=False)
def _customers() -> tuple[list[str], Matcher]:
    """Customers, most invoices first, so the picker opens on someone with a history; and the
    id search over them (the same matcher as titles and products: a digit off is forgiven)."""
    p = _purchases()
    invoices = p.groupby(COLS.customer)[COLS.invoice].nunique().sort_values(ascending=False, kind="stable")
    ids = [str(c) for c in invoices.index]
    return ids, Matcher(ids, invoices.to_numpy(dtype=float))


def _history(customer: str) -> None:
    p = _purchases()
    mine = p[p[COLS.customer] == customer]
    spend = (mine[COLS.quantity] * pd.to_numeric(mine["UnitPrice"], errors="coerce")).sum()
    dates = pd.to_datetime(mine[COLS.date])
    cols = st.columns(5)
    cols[0].metric("Invoices", mine[COLS.invoice].nunique())
    cols[1].metric("Products", mine[COLS.item].nunique())
    cols[2].metric("Units", f"{int(mine[COLS.quantity].sum()):,}")
    cols[3].metric("Spend", f"£{spend:,.0f}")
    cols[4].metric("Active", f"{dates.min():%b %y} – {dates.max():%b %y}")
    top = (mine.groupby([COLS.item, COLS.name])[COLS.quantity].sum().sort_values(ascending=False)
           .head(5).reset_index())
    st.caption("Most bought: " + "; ".join(f"{r[COLS.name]} ({int(r[COLS.quantity])})" for _, r in top.iterrows()))


def render() -> None:
    st.subheader("Similar customers")
    st.caption("User-user cosine on the customer x product purchase matrix (demo: 400 customers of "
               "UCI Online Retail, cleaned). Recommendations come from the 30 nearest customers.")
    result = _result()
    order, matcher = _customers()
    left, right = st.columns([2, 3])
    query = left.text_input("Find a customer by id", key="sc_query", placeholder="e.g. 178 — empty lists all, "
                            "most invoices first")
    shown = find_customers(order, query, limit=50, matcher=matcher) if query.strip() else order
    if not shown:
        st.warning(f"No customer id is close to {query.strip()!r}.")
        return
    customer = right.selectbox(f"Customer ({len(shown)} shown)", shown, **pick("customer", shown))
    share("customer", customer)
    _history(customer)
    try:
        near, recs = answer(result, customer)
    except InputError as exc:
        st.error(str(exc))
        return
    if near.empty:
        st.info("This customer shares no product with anyone else: no neighbours, no recommendations.")
        return
    left, right = st.container(), st.container()  # stacked: both tables need the full width
    with left:
        st.markdown(f"**{SHOWN_NEIGHBOURS} most similar customers**")
        st.dataframe(near.head(SHOWN_NEIGHBOURS)[["rank", "neighbour", "similarity", "shared_items"]],
                     hide_index=True, width="stretch", column_config={
                         "rank": st.column_config.NumberColumn("#", width="small"),
                         "neighbour": "Customer",
                         "similarity": st.column_config.ProgressColumn("Similarity", min_value=0.0,
                                                                       max_value=1.0, format="%.2f"),
                         "shared_items": st.column_config.NumberColumn("Products in common")})
    with right:
        st.markdown("**Recommended for this customer**")
        st.dataframe(recs[["rank", "item", "name", "score", "why"]], hide_index=True, width="stretch",
                     row_height=48, height=48 * len(recs) + 40,  # two lines a row, long names wrap; no scrolling
                     column_config={"rank": st.column_config.NumberColumn("#", width=40),
                                    "item": st.column_config.TextColumn("Code", width="small"),
                                    "name": st.column_config.TextColumn("Product", width="large"),
                                    "score": st.column_config.NumberColumn("Score", format="%.2f", width="small"),
                                    "why": st.column_config.TextColumn("Why", width="medium")})
        offer("these recommendations", recs, f"recommendations_{customer}", "sc_dl_one")
        offer("every customer's recommendations", lambda: result.recommendations, "recommendations", "sc_dl_all")
