"""Similar customers page: pick a customer, see their history, the customers who buy alike and
what those bought that this one has not, with the reason. `?customer=<id>` links to one."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from common.errors import InputError
from common.text_match import Matcher
from common.shop_tables import OrderColumns
from recommend.similar_customers import answer, build, find_customers, neighbours
from recommend.similar_customers.model import MODELS
from shop.registry import DataSet
from ui import quality
from ui.datasets import choose
from ui.links import pick, share
from ui.downloads import offer
from ui.memory import loaded

SHOWN_NEIGHBOURS = 10


@dataclass(frozen=True)
class Data:
    key: str  # names the data set and its version in the caches
    purchases: pd.DataFrame
    cols: OrderColumns  # only the fields these purchases have: a shop may have no date, name or quantity
    result: object


@st.cache_resource(show_spinner="Reading purchases and finding similar customers...", max_entries=4)
def _open(name: str, version: tuple, _ds: DataSet) -> Data:
    """A data set's similar customers and the purchases behind them (shared, read-only: no copy
    per rerun); a workspace's are loaded, the demo's built once per process."""
    purchases = _ds.purchases()
    result = _ds.open("similar_customers")
    loaded()
    return Data(f"{name}:{version}", purchases.table, purchases.cols, result)


@st.cache_resource(show_spinner="Recommending with the chosen model...", max_entries=4)
def _built_with(key: str, model: str, _data: Data):
    """The data set's neighbours and recommendations by another model than its artifact's, in memory."""
    result = build(_data.purchases, _data.cols, model=model)
    loaded()
    return result


def _label(model: str) -> str:
    return MODELS[model].label if model in MODELS else model


def _data(chosen: DataSet) -> Data:
    return _open(chosen.name, chosen.version("similar_customers"), chosen)


@st.cache_resource(show_spinner=False, max_entries=8)
def _customers(key: str, _data: Data) -> tuple[list[str], Matcher]:
    """Customers, most orders first, so the picker opens on someone with a history; and the
    id search over them (the same matcher as titles and products: a digit off is forgiven)."""
    p, cols = _data.purchases, _data.cols
    orders = (p.groupby(cols.customer)[cols.order].nunique() if cols.order else p.groupby(cols.customer).size())
    orders = orders.sort_values(ascending=False, kind="stable")
    ids = [str(c) for c in orders.index]
    return ids, Matcher(ids, orders.to_numpy(dtype=float))


def _history(data: Data, customer: str) -> None:
    p, cols = data.purchases, data.cols
    mine = p[p[cols.customer] == customer]
    quantity = mine[cols.quantity] if cols.quantity else pd.Series(1.0, index=mine.index)
    cols_shown = st.columns(5)
    cols_shown[0].metric("Orders", mine[cols.order].nunique() if cols.order else "–")
    cols_shown[1].metric("Products", mine[cols.item].nunique())
    cols_shown[2].metric("Units", f"{int(quantity.sum()):,}")
    if cols.price and cols.price in mine:  # the unit price
        spend = (quantity * pd.to_numeric(mine[cols.price], errors="coerce")).sum()
        cols_shown[3].metric("Spend", f"{spend:,.0f}")
    if cols.date:
        dates = pd.to_datetime(mine[cols.date])
        cols_shown[4].metric("Active", f"{dates.min():%b %y} – {dates.max():%b %y}")
    label = cols.name if cols.name and cols.name in mine else cols.item
    top = mine.assign(_q=quantity).groupby(label)["_q"].sum().sort_values(ascending=False).head(5)
    st.caption("Most bought: " + "; ".join(f"{name} ({int(q)})" for name, q in top.items()))


def render() -> None:
    st.subheader("Similar customers")
    top = st.columns([2, 3])
    chosen = choose("similar_customers", top[0])
    data = _data(chosen)
    built = data.result.manifest.get("model", "user-user")  # an artifact from before EASE: the neighbours'
    models = list(MODELS) + ([built] if built not in MODELS else [])  # built by a model this app lacks: as built
    model = top[1].selectbox("Recommendations from", models, format_func=_label,
                             **pick("model", models, models.index(built)),
                             help="EASE scores every product by the customer's whole history and names the "
                                  "products behind each recommendation; it ranks what customers buy next better "
                                  "(How good is this?, below).")
    share("model", model)
    result = data.result
    if built != model:
        result = _built_with(data.key, model, data)
    source = (MODELS[model].about if model in MODELS else f"the {model!r} model") + (
        f" ({result.manifest['k']} neighbours)" if model == "user-user" else "")
    st.caption(f"Customers who buy alike: user-user cosine on the customer x product purchase matrix "
               f"({result.manifest['customers']:,} customers, {result.manifest['products']:,} products). "
               f"Recommendations come from {source}.")
    quality.section("similar_customers", chosen)
    order, matcher = _customers(data.key, data)
    left, right = st.columns([2, 3])
    query = left.text_input("Find a customer by id", key="sc_query", placeholder="e.g. 178 — empty lists all, "
                            "most invoices first")
    shown = find_customers(order, query, limit=50, matcher=matcher) if query.strip() else order
    if not shown:
        st.warning(f"No customer id is close to {query.strip()!r}.")
        return
    customer = right.selectbox(f"Customer ({len(shown)} shown)", shown, **pick("customer", shown))
    share("customer", customer)
    _history(data, customer)
    try:
        near, recs = neighbours(result, customer), answer(result, customer)
    except InputError as exc:
        st.error(str(exc))
        return
    if near.empty:
        st.info("This customer shares no product with anyone else: no neighbours, no recommendations.")
        return
    left, right = st.container(), st.container()  # stacked: both tables need the full width
    with left:
        st.markdown(f"**{SHOWN_NEIGHBOURS} most similar customers**")
        shown = near.head(SHOWN_NEIGHBOURS).rename(columns={"id": "neighbour", "score": "similarity"})
        st.dataframe(shown[["rank", "neighbour", "similarity", "shared_items"]],
                     hide_index=True, width="stretch", column_config={
                         "rank": st.column_config.NumberColumn("#", width="small"),
                         "neighbour": "Customer",
                         "similarity": st.column_config.ProgressColumn("Similarity", min_value=0.0,
                                                                       max_value=1.0, format="%.2f"),
                         "shared_items": st.column_config.NumberColumn("Products in common")})
    with right:
        st.markdown("**Recommended for this customer**")
        st.dataframe(recs[["rank", "id", "name", "score", "why"]].rename(columns={"id": "item"}), hide_index=True, width="stretch",
                     row_height=48, height=48 * len(recs) + 40,  # two lines a row, long names wrap; no scrolling
                     column_config={"rank": st.column_config.NumberColumn("#", width=40),
                                    "item": st.column_config.TextColumn("Code", width="small"),
                                    "name": st.column_config.TextColumn("Product", width="large"),
                                    "score": st.column_config.NumberColumn("Score", format="%.2f", width="small"),
                                    "why": st.column_config.TextColumn("Why", width="medium")})
        offer("these recommendations", recs, f"recommendations_{customer}", "sc_dl_one")
        offer("every customer's recommendations", lambda: result.recommendations, "recommendations", "sc_dl_all")
