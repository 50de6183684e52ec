"""The "Similar products" page: products bought in the same orders, read from the offline artifact.
A link opens the same view: `?dataset=<demo set or workspace>&product=<product id>`.

The page never recomputes what `python -m recommend similar-products` (or `build`) builds: it loads
the demo set's artifact (building it once, with a spinner, when it is missing) or the workspace's,
and only looks things up.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from common.artifacts import stamp
from common.errors import USER_ERRORS, InputError
from common.text_match import Matcher
from recommend.similar_products.model import SimilarProducts, answer, find_products, json_text, product_matcher
from recommend.similar_products.similarity import MODELS
from shop.registry import DataSet
from ui import pictures, quality
from ui.datasets import choose
from ui.downloads import offer
from ui.links import linked, pick, share
from ui.memory import loaded

K = 5
SHOWN_MATCHES = 50  # products offered in the picker for one search


@st.cache_resource(show_spinner=False, max_entries=8)  # bounded: a rebuild makes a new version
def _open(name: str, version: tuple, _ds: DataSet) -> SimilarProducts:
    return _ds.open("similar_products")


def _result(ds: DataSet) -> SimilarProducts:
    """The data set's artifact, loaded; a demo's is built the first time (visitors who arrive
    meanwhile wait for that build and load its result: shop.datasets)."""
    version = ds.version("similar_products")
    if not ds.built("similar_products"):
        with st.spinner(f"First use: finding similar products in {ds.label} (a few seconds)..."):
            result = _open(ds.name, version, ds)
        loaded()
        return result
    return _open(ds.name, version, ds)


@st.cache_resource(show_spinner=False, max_entries=8)
def _matcher(name: str, version: tuple, _products: pd.DataFrame) -> Matcher:
    """The name and id search of this data set's products, built once per artifact."""
    return product_matcher(_products)


@st.cache_data(show_spinner=False, max_entries=8)
def _json_bytes(path: str, version: float) -> bytes:
    return Path(path).read_bytes()


@st.cache_resource(show_spinner="Building with the chosen model...", max_entries=6)
def _built_with(name: str, version: tuple, similarity: str, _ds: DataSet) -> SimilarProducts:
    """The data set's similar products by another model than its artifact's, in memory (the
    artifact keeps the default; `--model` writes another)."""
    result = _ds.build_with("similar_products", similarity)
    loaded()
    return result


def _label(row) -> str:
    return f"{row['name']}  ·  {row['item']}  ·  {int(row['orders'])} orders"


def render() -> None:
    st.subheader("Similar products")
    left, right = st.columns([2, 3])
    chosen = choose("similar_products", left)
    name, folder = chosen.name, chosen.folder("similar_products")
    query = right.text_input("Find a product by part of its name (or id)", key="sp_query",
                             placeholder="e.g. lantern, paper, chair — empty lists the most ordered")
    try:
        result = _result(chosen)
        built = result.manifest.get("model", result.manifest["similarity"])
        models = list(MODELS) + ([built] if built not in MODELS else [])  # built by a model this app lacks: as built
        label = lambda name: MODELS[name].label if name in MODELS else name  # noqa: E731
        similarity = left.selectbox(
            "Model", models, format_func=label, **pick("model", models, models.index(built)),
            help=f"How two products are scored; this data set was built with {label(built)}, the others are "
                 "computed when chosen. EASE learns weights from every order and finds the hidden product of "
                 "later orders most often (How good is this?, below).")
        share("model", similarity)
        if similarity != built:
            result = _built_with(name, chosen.version("similar_products"), similarity, chosen)
    except USER_ERRORS as exc:
        st.error(f"Could not load the similar products of this data set: {exc}".splitlines()[0])
        return
    m = result.manifest
    rare = f" (pairs bought together fewer than {m['min_count']} times ignored)" if m["min_count"] > 1 else ""
    st.caption(f"Products bought in the same orders: the {m['k']} most similar per product by **{m['similarity']}**"
               f"{rare}, from {m['orders']:,} orders and {m['products']:,} products; "
               f"{m['products_with_similar']:,} products have similar ones.")
    quality.section("similar_products", chosen)
    products = result.products
    if query.strip():
        matches = find_products(products, query, limit=SHOWN_MATCHES,
                                matcher=_matcher(name, chosen.version("similar_products"), products))
        if matches.empty:
            st.error(f"No product name or id is close to {query.strip()!r}; try a shorter part of a word.")
            _validation(result, chosen.note("similar_products"))
            return
    else:
        matches = products.sort_values(["orders", "name"], ascending=[False, True], kind="stable").head(SHOWN_MATCHES)
    wanted = linked("product")
    if "product" not in st.session_state and wanted in set(products["item"]) and wanted not in set(matches["item"]):
        matches = pd.concat([products[products["item"] == wanted], matches])  # the linked product, first
    labels = {row["item"]: _label(row) for _, row in matches.iterrows()}
    options = list(labels)
    item = st.selectbox(f"Product ({len(labels)} shown)", options, format_func=labels.get, **pick("product", options))
    share("product", item)
    _answer(result, item, pictures.of(chosen))
    _validation(result, chosen.note("similar_products"))
    offer(f"every product's top {m['k']}", lambda: _all_lists(result), f"similar_products_{name}", "sp_lists")
    st.download_button(f"Download all top-{m['k']} lists as the shop serves them (JSON)", data=_download(folder, result),
                       file_name=f"similar_products_{name}.json", mime="application/json", key="sp_download",
                       on_click="ignore", help="{product id: [similar product ids, best first]}, as the shop serves it")


def _unit_scale(result: SimilarProducts) -> bool:
    """The model's scores lie in 0..1 (drawn on a fixed bar; EASE's and lift's against the list's best)."""
    name = result.manifest.get("model", result.manifest["similarity"])
    return name in MODELS and MODELS[name].unit_scale


def _all_lists(result: SimilarProducts) -> pd.DataFrame:
    """Every product's similar products, with both names, as one table."""
    names = result.products.set_index("item")["name"]
    table = result.neighbours.copy()
    table.insert(1, "name", table["item"].map(names))
    table.insert(4, "similar_name", table["similar_item"].map(names))
    return table


def _download(folder: Path, result: SimilarProducts) -> bytes:
    """The artifact's JSON file as written by the build (or made from memory if it was not written)."""
    path = Path(folder) / "similar_products.json"
    if path.is_file():
        return _json_bytes(str(path), stamp(folder))
    return json_text(result.as_json()).encode("utf-8")


def _answer(result: SimilarProducts, item: str, shown: pictures.Pictures) -> None:
    categories = list(result.manifest.get("columns", {}).get("categories", []))
    try:
        similar = answer(result, item, K)
    except InputError as exc:
        st.error(str(exc))
        return
    chosen = result.products.set_index("item").loc[item]
    facts = f"**{chosen['name']}** · id {item} · in {int(chosen['orders'])} orders"
    if categories:
        facts += " · " + " / ".join(str(chosen[c]) for c in categories)
    st.markdown(facts)
    if similar.empty:
        st.info("No similar products: this product was never bought together with another one "
                f"(at least {result.manifest['min_count']} time(s)).")
        return
    if shown:  # a shop's catalogue has pictures: the product and its similar ones, side by side
        pictures.row([(shown.of(item), f"{chosen['name']} (this product)")] +
                     [(shown.of(r.id), f"{r.rank}. {r.name}") for r in similar.itertuples()])
    table = pd.DataFrame({
        "rank": similar["rank"], "name": similar["name"], "item": similar["id"],
        "score": similar["score"], "co_count": similar["co_count"],
    })
    config = {
        "rank": st.column_config.NumberColumn("#", width="small"),
        "name": st.column_config.TextColumn("Similar product", width="large"),
        "item": st.column_config.TextColumn("Id"),
        "score": st.column_config.ProgressColumn(
            "Score", min_value=0.0, format="%.3f",
            # similarities in 0..1 on their own scale; EASE's weights and lift against the list's best
            max_value=1.0 if _unit_scale(result) else max(float(similar["score"].max()), 1e-9),
            help=f"{result.manifest['similarity']} similarity"),
        "co_count": st.column_config.NumberColumn("Bought together", help="orders holding both products"),
    }
    if categories:
        table["category"] = similar[categories[0]]
        config["category"] = st.column_config.TextColumn(categories[0])
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    offer("these similar products", table, f"similar_to_{item}", "sp_download_one")


def _validation(result: SimilarProducts, note: str | None) -> None:
    with st.expander("Validation: are similar products in the same category?", expanded=True):
        if result.validation is None or result.validation.empty:
            st.info("This data set has no product categories, so the same-category check does not apply; "
                    "the offline evaluation (hide one product of each later order, recommend it back) is under "
                    "How good is this?, above.")
            return
        v = result.validation
        levels = list(dict.fromkeys(v["level"]))
        level = st.radio("Category level", levels, horizontal=True, key="sp_level") if len(levels) > 1 else levels[0]
        part = v[v["level"] == level]
        overall = part[part["category"] == "(all)"].iloc[0]
        k = result.manifest["k"]
        st.markdown(
            f"Best recommendation in the same {level.lower()}: **{overall['top1_same']:.1%}** of products "
            f"(random {overall['random_top1']:.1%}, most popular {overall['popular_top1']:.1%}); share of the top "
            f"{k} in the same {level.lower()}: **{overall['topk_same']:.1%}** (random {overall['random_topk']:.1%}, "
            f"most popular {overall['popular_topk']:.1%}).")
        per = part[part["category"] != "(all)"]
        series = {f"similar products (top {k})": "topk_same", "random": "random_topk",
                  f"most popular (top {k})": "popular_topk"}
        chart = pd.DataFrame({"category": per["category"].to_numpy(),
                              **{label: (100 * per[col]).round(1).to_numpy() for label, col in series.items()}})
        st.bar_chart(chart, x="category", y=list(series), color=["#d62728", "#b0b0b0", "#1f77b4"],
                     y_label=f"% of the top {k} in the product's own {level.lower()}", x_label="",
                     horizontal=True, stack=False, height=max(300, 40 * len(per)))
        if note:
            st.caption(note)
