"""The "Basket rules" page, for analysts: association rules from shopping baskets, explored.

Pick the demo baskets or upload a CSV, move the thresholds, read the rules (sortable, narrowed
to one item on either side), see support against confidence coloured by lift, look up what to
show next to an item, and download the rules (CSV) and the lookup (JSON). Reading and mining
are cached per file and thresholds; a bad upload gets one clear line, never a traceback.
A link opens the same view: `?dataset=<demo set>&item=<item to show things next to>`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import altair as alt
import pandas as pd
import streamlit as st

from common.errors import InputError
from common.shop_tables import ORDERS, OrderColumns, guess
from common.tables import csv_columns
from recommend.rules import defaults
from recommend.rules.baskets import Baskets, guess_format, read_baskets
from recommend.rules.model import SUPPORT_STEPS, WANTED_RULES, BasketRules, answer, build, lookup_json_text, starting_support
from recommend.rules.rules import RULE_COLUMNS, rules_with_item, split_items
from shop.registry import DataSet
from ui import pictures
from ui.datasets import choose
from ui.links import pick, share
from ui.downloads import offer
from ui.memory import loaded

UPLOAD = "Upload a CSV..."
UPLOAD_TYPES = ["csv", "txt", "gz"]
TABLE_ROWS = 10_000  # rows shown in the table (the download has them all)
CHART_POINTS = 5_000  # strongest rules drawn in the scatter
SIDES = {"either side": "either", "left (if bought)": "antecedents", "right (then also)": "consequents"}
NONE = "(none)"


@dataclass
class Source:
    """Where the baskets come from and how to read them."""

    label: str  # what the user chose, for messages
    key: str  # names the data and its reading options, for the caches
    data: bytes | None  # the upload's bytes; None for a demo file or a workspace
    fmt: str
    columns: OrderColumns | None = None  # a long file's order, item and quantity columns
    suggested: dict | None = None  # thresholds that suit the data
    dataset: DataSet | None = None  # a demo set or a workspace (None: an upload)


# cache_resource, not cache_data: one shared, read-only copy of baskets and rules, not a fresh
# unpickled copy on every rerun of every session.
@st.cache_resource(show_spinner=False, max_entries=8)
def _read(key: str, data: bytes, fmt: str, columns: OrderColumns | None, name: str) -> Baskets:
    return read_baskets(data, fmt, columns, name=name)


@st.cache_resource(show_spinner=False, max_entries=8)
def _read_set(key: str, name: str, _ds: DataSet) -> Baskets:
    """A data set's baskets (its file, or a workspace's orders), read once per version (`key`)."""
    return _ds.baskets(name)


@st.cache_resource(show_spinner=False, max_entries=32)
def _mine(key: str, _baskets: Baskets, min_support: float, min_confidence: float, min_lift: float,
          max_length: int) -> tuple[BasketRules, str]:
    """The rules for these baskets (named by `key`) and thresholds, with the lookup's JSON."""
    result = build(_baskets, min_support=min_support, min_confidence=min_confidence,
                                min_lift=min_lift, max_length=max_length)
    lookup = lookup_json_text(result)
    loaded()
    return result, lookup


@st.cache_data(show_spinner="Choosing a min support that finds rules in this file...", max_entries=16)
def _starting_support(key: str, _baskets: Baskets) -> dict:
    support, rules = starting_support(_baskets)
    at = f"at confidence ≥ {defaults.MIN_CONFIDENCE:g} and lift ≥ {defaults.MIN_LIFT:g}"
    note = (f"Min support starts at {support:g} for this file: the highest step that gives at least "
            f"{WANTED_RULES} rules {at} ({rules:,} of up to 3 items there)." if rules >= WANTED_RULES else
            f"Min support starts at {support:g}, the lowest step that is safe to mine: it gives {rules:,} "
            f"rules of up to 3 items {at}." if rules else "No step of min support gives a rule at the default confidence and lift; "
                          "lower them to see weaker rules.")
    return {"min_support": support, "note": note}


def _upload_source() -> Source | None:
    upload = st.file_uploader("Basket file (.csv or .csv.gz)", type=UPLOAD_TYPES, key="br_upload",
                              help="Wide: one basket per line, items separated by commas, no header. "
                                   "Long: a header, then one row per order line (order, item, quantity...).")
    if upload is None:
        st.caption("Upload a file to mine it. Nothing is stored: the file stays in this session's memory.")
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        guessed = guess_format(data, upload.name)
    except InputError as exc:
        st.error(str(exc))
        return None
    fmt = st.radio("Shape", ["wide", "long"], index=["wide", "long"].index(guessed), horizontal=True,
                   key=f"br_format_{digest}",
                   format_func=lambda f: {"wide": "wide: one basket per line",
                                          "long": "long: one row per order line"}[f])
    if fmt == "wide":
        return Source(upload.name, f"upload:{digest}:wide", data, "wide")
    columns = [c for c in csv_columns(data, upload.name) if c]
    if len(columns) < 2:
        st.error(f"{upload.name} has fewer than two columns in its first line; a long file needs a header "
                 "with an order column and an item column. Is it a wide file?")
        return None
    left, mid, right = st.columns(3)
    guessed = guess(columns, ORDERS)  # the one mapping of a shop's orders (common/shop_tables.py)
    basket_col = left.selectbox("Order column", columns, index=columns.index(guessed["order"] or columns[0]),
                                key=f"br_basket_col_{digest}")
    # rules read best in product names; the product id where there are none
    item_default = guessed["name"] or guessed["item"] or columns[min(1, len(columns) - 1)]
    item_col = mid.selectbox("Item column", columns, index=columns.index(item_default), key=f"br_item_col_{digest}")
    quantity = right.selectbox("Quantity column", [NONE] + columns,
                               index=0 if guessed["quantity"] is None else columns.index(guessed["quantity"]) + 1,
                               key=f"br_quantity_col_{digest}",
                               help="Rows whose quantity is not positive (returns, cancellations) are dropped.")
    quantity_col = None if quantity == NONE else quantity
    return Source(upload.name, f"upload:{digest}:long:{basket_col}:{item_col}:{quantity_col}", data, "long",
                  OrderColumns(order=basket_col, item=item_col, quantity=quantity_col))


def _choose_source() -> Source | None:
    choice = choose("basket_rules", label="Baskets", extra={UPLOAD: UPLOAD})
    if choice == UPLOAD:
        return _upload_source()
    if choice.workspace is not None:
        return _workspace_source(choice)
    spec = choice.demo.baskets
    how = ("one basket per line" if spec.format == "wide" else
           f"order column {spec.columns.order}, item column {spec.columns.item}, "
           f"rows with {spec.columns.quantity} <= 0 dropped")
    st.caption(f"`{spec.path.relative_to(spec.path.parents[2])}` · {how}")
    thresholds = {"min_support": spec.min_support, "min_confidence": spec.min_confidence, "min_lift": spec.min_lift}
    return Source(choice.label, choice.name, None, spec.format, spec.columns, thresholds, choice)


def _workspace_source(ds: DataSet) -> Source:
    """A workspace's orders as baskets, opening on the thresholds its build chose."""
    ws = ds.workspace
    built = ws.manifest["parts"]["basket_rules"]
    item = built["item_field"]
    st.caption(f"Workspace `{ws.name}` · orders from {ws.manifest['mapping']['order']}, items by "
               f"{'product name' if item == 'name' else 'product id'} · built {ws.manifest['created'][:16]} UTC")
    return Source(ds.label, f"ws:{ws.folder}:{ws.manifest['created']}", None, "long",
                  OrderColumns(order="order", item=item), dict(built["thresholds"]), ds)


def _thresholds(source: Source) -> tuple[float, float, float, int]:
    suggested = source.suggested or {}
    support0 = suggested.get("min_support", defaults.MIN_SUPPORT)
    steps = sorted(set(SUPPORT_STEPS) | {support0})
    left, right = st.columns(2)
    tag = hashlib.sha256(source.key.split(":long:")[0].encode()).hexdigest()[:8]  # new data, fresh defaults
    min_support = left.select_slider("Min support (share of baskets)", steps, value=support0,
                                     key=f"br_support_{tag}", format_func=lambda v: f"{v:g}")
    if "note" in suggested:
        left.caption(suggested["note"])
    min_confidence = right.slider("Min confidence", 0.0, 1.0,
                                  float(suggested.get("min_confidence", defaults.MIN_CONFIDENCE)), 0.05,
                                  key=f"br_confidence_{tag}")
    min_lift = left.slider("Min lift", 0.0, 10.0, float(suggested.get("min_lift", defaults.MIN_LIFT)), 0.1,
                           key=f"br_lift_{tag}")
    max_length = right.slider("Max items in a rule (both sides)", 2, 6, int(defaults.MAX_LENGTH),
                              key=f"br_length_{tag}")
    return float(min_support), float(min_confidence), float(min_lift), int(max_length)


def _load(source: Source) -> Baskets | None:
    try:
        if source.dataset is not None:
            return _read_set(source.key, source.label, source.dataset)
        return _read("upload", source.data, source.fmt, source.columns, source.label)
    except InputError as exc:
        st.error(str(exc))
    return None


def _rules_view(rules: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    left, right = st.columns([3, 2])
    item = left.selectbox("Only rules with", ["(any item)"] + items, key="br_filter_item",
                          help="Type to search. Narrows the table and the chart.")
    side = right.radio("on", list(SIDES), horizontal=True, key="br_filter_side")
    if item == "(any item)":
        return rules
    return rules_with_item(rules, item, SIDES[side])


def _table(rules: pd.DataFrame) -> None:
    shown = rules.head(TABLE_ROWS)
    number = {"width": "small"}
    st.dataframe(
        shown, hide_index=True, height=380, row_height=48,  # two lines a row: long product names wrap, not cut
        column_config={
            "antecedents": st.column_config.TextColumn("if bought", help="antecedents", width="large"),
            "consequents": st.column_config.TextColumn("then also", help="consequents", width="large"),
            "support": st.column_config.NumberColumn(format="%.4f", help="share of baskets holding both sides",
                                                     **number),
            "confidence": st.column_config.NumberColumn(format="%.3f", help="share of 'if' baskets that hold 'then'",
                                                        **number),
            "lift": st.column_config.NumberColumn(format="%.2f", help="confidence / support of 'then'", **number),
            "leverage": st.column_config.NumberColumn(format="%.4f", **number),
            "conviction": st.column_config.NumberColumn(format="%.3f", **number),
        })
    more = f"; the table shows the strongest {TABLE_ROWS:,}, the download has all" if len(rules) > TABLE_ROWS else ""
    st.caption(f"{len(rules):,} rules, strongest first (lift, then confidence); click a header to sort{more}.")


def _chart(rules: pd.DataFrame) -> None:
    points = rules.head(CHART_POINTS)
    chart = alt.Chart(points).mark_circle(size=60, opacity=0.8).encode(
        x=alt.X("support:Q", title="support (log scale)", scale=alt.Scale(type="log", nice=False, padding=12)),
        y=alt.Y("confidence:Q", title="confidence", scale=alt.Scale(zero=False, padding=12)),
        color=alt.Color("lift:Q", title="lift", scale=alt.Scale(scheme="viridis")),
        tooltip=[alt.Tooltip("antecedents:N", title="if bought"), alt.Tooltip("consequents:N", title="then also"),
                 alt.Tooltip("support:Q", format=".4f"), alt.Tooltip("confidence:Q", format=".3f"),
                 alt.Tooltip("lift:Q", format=".2f")],
    ).properties(height=380).interactive()
    st.altair_chart(chart)
    more = f" (the {CHART_POINTS:,} strongest)" if len(rules) > CHART_POINTS else ""
    st.caption(f"Support against confidence, coloured by lift{more}; hover a point for its rule.")


def _next_to(result: BasketRules, baskets: Baskets, shown: pictures.Pictures) -> None:
    st.markdown("#### What to show next to an item")
    counts = dict(zip(baskets.items, baskets.item_counts()))
    items = sorted(counts)
    with_rules = result.lookup.loc[result.lookup["source"] == "rule", "item"]
    first = with_rules.iloc[0] if len(with_rules) else items[0]
    item = st.selectbox("Item", items, **pick("item", items, default_index=items.index(first)),
                        help="Type to search. Items with a rule of their own come from it; the rest is topped up "
                             "with the best sellers.")
    share("item", item)
    rows = answer(result, item)
    cols = st.columns(max(len(rows), 1))
    for col, row in zip(cols, rows.itertuples()):
        with col.container(border=True):
            picture = shown.of_name(row.id) or shown.of(row.id)  # rules by name or by product id
            if picture is not None:
                st.image(picture, width=120)
            st.markdown(f"**{row.rank}. {row.id}**")
            if row.source == "rule":
                st.caption(f"rule {item} → {row.id}: lift {row.score:.2f}, confidence {row.confidence:.2f}")
            else:
                st.caption(f"best seller, in {counts.get(row.id, 0):,} baskets")
    st.caption(f"In {counts[item]:,} of {baskets.n_baskets:,} baskets. Order: the item's own rules (it alone on "
               f"the left) by lift, then confidence; then best sellers. Items with no entry (new products) get "
               f"the default: {', '.join(result.default_recommendation)}.")


def render() -> None:
    """Show the Basket rules tab."""
    st.subheader("Basket rules")
    st.caption("Frequent itemsets and association rules (support, confidence, lift) from shopping baskets, "
               "and the items to show next to each product, topped up with the best sellers.")
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = _choose_source()
    if source is None:
        return
    with st.spinner("Reading the baskets..."):
        baskets = _load(source)
    if baskets is None:
        return
    if source.suggested is None:  # an upload: open on a min support that finds some rules
        source.suggested = _starting_support(source.key, baskets)
    with right:
        min_support, min_confidence, min_lift, max_length = _thresholds(source)
    try:
        with st.spinner("Mining frequent itemsets and rules..."):
            result, lookup_text = _mine(source.key, baskets, min_support, min_confidence, min_lift,
                                                    max_length)
    except InputError as exc:
        st.error(str(exc))
        return
    m = result.manifest
    cols = st.columns(5)
    cols[0].metric("Baskets", f"{m['baskets']:,}")
    cols[1].metric("Items", f"{m['items']:,}")
    cols[2].metric("Frequent itemsets", f"{m['frequent_itemsets']:,}")
    cols[3].metric("Rules", f"{m['rules']:,}", help=f"over {m['itemsets_with_rules']:,} itemsets")
    cols[4].metric("Items with a rule", f"{m['items_with_rules']:,}", help="rules with the item alone on the left")

    rules = result.rules
    if rules.empty:
        st.info("No rule meets these thresholds; lower min support, min confidence or min lift.")
    else:
        in_rules = sorted({x for side in ("antecedents", "consequents") for s in rules[side] for x in split_items(s)})
        view = _rules_view(rules, in_rules)
        _table(view)  # the full width: rule sides are long product names
        _chart(view)
    _next_to(result, baskets, pictures.of(source.dataset))
    offer(f"all {m['rules']:,} rules", lambda: result.rules[RULE_COLUMNS], "rules", "br_download_rules")
    st.download_button("Download the lookup the shop serves (JSON)", lookup_text, "lookup.json", "application/json",
                       key="br_download_lookup", on_click="ignore",
                       help='{"default_recommendation": [...], "recommendations": {item: [3 items]}}')
