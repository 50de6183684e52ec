"""Visual search page: a shopper's photo in, the five most similar catalogue products out.

The model and the index load once per process (st.cache_resource) and are warmed up, so the
first query is not slow. With no index yet, the demo index is built here with progress shown.
Uploads stay in memory; nothing is written under a name the user chose. Any file is accepted
and checked here (HEIC, AVIF and 16-bit PNGs included), so every refusal is the app's own line;
the picture shown is the one the model read, decoded once. `?product=<id>` links to "More like
this" for a catalogue product; `?dataset=<workspace>` searches a shop's own catalogue, whose
results also show what is often bought with each product (one shop, one set of product ids).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

import settings
from common.errors import USER_ERRORS, InputError
from embed import index as visual_index
from embed.batcher import Busy
from shop import pictures as shop_pictures
from shop.registry import DataSet
from shop.visual import BoughtWith, bought_with, build_demo_index, product_name
from ui.datasets import choose
from ui.links import linked, share
from ui.memory import loaded, release

FILTERS = (("gender", "Gender"), ("masterCategory", "Category"), ("articleType", "Article type"),
           ("category", "Category"))
PHOTO_KINDS = "JPEG, PNG, WebP, HEIC (iPhone), AVIF"


# Weights that could not be had, by (index, weights): not retried on every rerun of the script
# (each rerun of any tab runs this page too), only when the user asks.
_UNAVAILABLE: dict[tuple[str, str], str] = {}


@st.cache_resource(show_spinner=False, max_entries=4)
def _bought_with_of(name: str, version: tuple, _ds: DataSet) -> BoughtWith | None:
    """What a workspace adds to its results, one per workspace build, shared by every visitor."""
    return bought_with(_ds)


def _build_demo_index(ds: DataSet, weights: str) -> None:
    """First run: embed the demo catalogue, with a progress bar (count, images/s, time left)."""
    with st.status("Building the visual index of the demo catalogue (first run only)...",
                   expanded=True) as status:
        bar = st.progress(0.0)
        bar.progress(0.0, text="Loading the image model (a few seconds)...")

        def report(done: int, total: int, rate: float) -> None:
            if rate <= 0:
                text = f"{done} / {total} images · starting (the first batch sets the pace)..."
            else:
                text = (f"{done} / {total} images · {rate:.1f} images/s · about "
                        f"{(total - done) / rate:.0f} s left")
            bar.progress(done / total if total else 1.0, text=text)

        count = build_demo_index(ds, weights, on_progress=report)
        status.update(label="Visual index ready" + (f": {count} products." if count else "."), state="complete",
                      expanded=False)


def _keep_keras_session() -> None:
    """Streamlit clears Keras' session after every script run once Keras is imported, on every
    page (`_clean_problem_modules` in streamlit/runtime/scriptrunner/script_runner.py): a full
    garbage collection and TensorFlow's kernel cache, measured here at 0.4-1 s of every click of
    every visitor, for a model that is built once, frozen and kept in st.cache_resource. The app
    builds no Keras models per run, so in its process that hook does nothing. Keras comes from
    embed.model, which imports it without the optional libraries it would load (common.imports)."""
    from embed.model import keras

    keras.backend.clear_session = lambda *args, **kwargs: None


@st.cache_resource(show_spinner="Loading the image model...", max_entries=4)
def _engine(index_dir: str, version: tuple, weights: str):
    """The query engine of one version of an index (a rebuild swaps the folder behind its link)."""
    from embed.query import QueryEngine

    _keep_keras_session()
    engine = QueryEngine.open(Path(index_dir), weights)
    engine.embedder.warm_up()
    loaded()
    return engine


def _open_engine(ds: DataSet):
    """The query engine, building the demo index first if there is none; None on a problem
    the user must fix (the message is already shown)."""
    from embed.weights import WeightsUnavailable

    weights = settings.WEIGHTS
    index_dir = ds.folder("visual_index")
    key = (str(index_dir), weights)
    if key not in _UNAVAILABLE:
        try:
            if ds.is_demo and not (index_dir / "manifest.json").is_file():
                _build_demo_index(ds, weights)
            return _engine(str(index_dir), ds.version("visual_index"), weights)
        except WeightsUnavailable as exc:
            _UNAVAILABLE[key] = str(exc)
        except USER_ERRORS as exc:
            st.error(str(exc))
            return None
    st.warning(f"Visual search needs the ResNet50 weights. {_UNAVAILABLE[key]}")
    st.caption("The other tabs work without them.")
    if st.button("Try again", key="vs_retry_weights"):
        _UNAVAILABLE.pop(key, None)
        st.rerun()
    return None


def _image_path(engine, product_id: str, shop: BoughtWith | None = None) -> str | None:
    """Where a product's picture is: the shop catalogue's file or URL, else the index's file."""
    if shop is not None:
        return shop.pictures.of(product_id)
    return engine.memo(("picture", product_id), lambda: shop_pictures.in_index(engine.index, product_id))


def _filters(engine):
    items = engine.index.items
    present = [(name, label) for name, label in FILTERS if name in items.columns]
    cols = st.columns(max(len(present), 3))  # the catalogue's own filters, from the left
    chosen = {}
    for col, (name, label) in zip(cols, present):
        chosen[name] = col.multiselect(label, engine.values(name), key=f"vs_filter_{name}", placeholder="Any")
    active = {k: v for k, v in chosen.items() if v}
    return visual_index.filter_mask(items, **active) if active else None


def index_caption(built) -> str:
    """What an analyst should know about the index: its size, the model's arithmetic (and, for
    int8 chosen by `auto`, its check against fp32), and the approximate index's recall."""
    precision = built.manifest.get("model_precision", "fp32")
    parts = [f"{len(built):,} products", f"{precision} model"]
    measured = built.manifest.get("build", {}).get("precision_choice", {}).get("int8_check")
    if precision == "int8" and measured:
        parts[-1] += (f", checked against fp32 on {measured['images']} of the catalogue's pictures (mean cosine "
                      f"{measured['mean_cosine']:.4f}, {measured['top5_agreement']:.0%} of the top five the same)")
    if built.approximate is not None:
        params = built.approximate.params
        parts.append(f"approximate index ({params['factory']}, the top {params['rerank']} re-scored exactly): "
                     "in the benchmark it returns 98-99.9% of the exact top five")
    return " · ".join(parts) + "."


def _query_input():
    """The current query: ('upload', QueryPhoto-to-be: the bytes) or ('product', id), kept across
    reruns; a linked `?product=` opens on "More like this" for it."""
    left, right = st.columns([3, 2])
    turn = st.session_state.setdefault("vs_uploader_turn", 0)  # a new key empties the uploader
    upload = left.file_uploader(f"Upload a photo of a product ({PHOTO_KINDS}...)", key=f"vs_upload_{turn}",
                                max_upload_size=settings.MAX_IMAGE_BYTES // 2**20)
    with right.expander("Or take a photo"):
        camera = st.camera_input("Take a photo", key="vs_camera", label_visibility="collapsed")
    for source in (camera, upload):
        if source is not None:
            if st.session_state.get("vs_last_file") != source.file_id:  # a new photo replaces "more like this"
                st.session_state["vs_last_file"] = source.file_id
                st.session_state["vs_query"] = ("upload", source.getvalue())
                st.session_state.pop("vs_photo", None)
                share("product", None)
            break
    if "vs_query" not in st.session_state and linked("product") is not None:
        st.session_state["vs_query"] = ("product", linked("product"))
    return st.session_state.get("vs_query")


def _photo(engine, data: bytes):
    """The photo decoded once per photo and session (vector, digest, picture to show): a new
    upload drops the last one (`_query_input`), so a rerun neither decodes nor hashes again."""
    if "vs_photo" not in st.session_state:
        with engine.batcher.slot():  # counted among the searches coming to the model, as the API's are
            st.session_state["vs_photo"] = engine.photo(data)  # one photo at a time: flat memory
        release()
    return st.session_state["vs_photo"]


def _show_results(engine, hits, area, shop: BoughtWith | None = None) -> None:
    if hits.empty:
        area.info("No catalogue product matches these filters.")
        return
    cols = area.columns(settings.TOP_K)
    for col, (_, hit) in zip(cols, hits.iterrows()):
        with col:
            path = _image_path(engine, hit["id"], shop)
            if path is not None:
                st.image(path, width="stretch")
            st.markdown(f"**{product_name(hit, hit['id'])}**")
            details = [str(hit[c]) for c in ("articleType", "baseColour", "gender", "category")
                       if c in hit and isinstance(hit[c], str)]
            st.caption(" · ".join(details))
            st.markdown(f"**{100 * hit['score']:.1f}%** similar")
            if shop is not None:
                _bought_with(shop, str(hit["id"]), product_name(hit, hit["id"]))
            if st.button("More like this", key=f"vs_more_{hit['id']}"):
                st.session_state["vs_query"] = ("product", str(hit["id"]))
                st.session_state["vs_uploader_turn"] += 1  # the uploader no longer shows the old file
                share("product", hit["id"])
                st.rerun()


def _bought_with(shop: BoughtWith, product: str, name: str) -> None:
    """Under a result: the products often bought with it, with their pictures, and what the
    basket lookup shows next to it."""
    together = shop.products(product)
    if together:
        st.caption("Often bought with")
        cells = st.columns(len(together), gap="small")
        for cell, (item, item_name) in zip(cells, together):
            picture = _image_path(None, item, shop)
            if picture is not None:
                cell.image(picture, width="stretch")
            cell.caption(str(item_name if isinstance(item_name, str) else item))
    shown = shop.next_to(product, name)
    if shown:
        st.caption("Basket rules show next to it: " + ", ".join(shown))


def render() -> None:
    st.subheader("Visual search")
    st.caption("Upload or take a photo of a product: the five most similar catalogue products come back.")
    chosen = choose("visual_index", st.columns([2, 3])[0], label="Catalogue")
    shop = _bought_with_of(chosen.name, chosen.version("visual_index"), chosen) if chosen.workspace else None
    engine = _open_engine(chosen)
    if engine is None:
        return
    if engine.weights.kind == "none":
        st.warning("This index uses random weights (tests only): results do not reflect what the images show.")
    st.caption(index_caption(engine.index))

    query = _query_input()
    mask = _filters(engine)
    include_self = st.toggle("Show the same product if my photo is from the catalogue", value=False,
                             key="vs_include_self")
    if query is None:
        st.info("Choose a photo to start.")
        return
    kind, value = query
    try:
        if kind == "upload":
            photo = _photo(engine, value)
            exclude = () if include_self else engine.same_file_ids(photo.digest)
            hits = visual_index.search(engine.index, photo.vector, settings.TOP_K, mask=mask, exclude_ids=exclude)
            shown = photo.picture
        else:
            hits = visual_index.answer(engine.index, value, k=settings.TOP_K, mask=mask)
            shown = _image_path(engine, value, shop)
    except InputError as exc:  # a photo that cannot be read, or an unknown product id
        st.error(str(exc))
        if kind == "product":
            st.session_state.pop("vs_query", None)
            share("product", None)
        return
    except (Busy, TimeoutError) as exc:  # the image model has a crowd waiting (embed/batcher.py)
        st.warning(f"{exc} Your photo is kept: press R or change a filter to search again.")
        return
    st.divider()
    q, results = st.columns([1, 5], gap="large")
    if shown is not None:
        q.image(shown, width="stretch")
    if kind == "upload":
        q.caption("Your photo")
    else:
        row = engine.index.items.iloc[engine.index.position(value)]
        q.caption(f"More like: {product_name(row, value)}")
    _show_results(engine, hits, results, shop)
