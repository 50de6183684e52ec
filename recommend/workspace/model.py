"""A shop's workspace: its orders, mapped once, and every recommender built from them, in one folder.

    artifacts/<name>/manifest.json       kind "workspace": the source (a file's digest, or the SQL
                                         query and row count, never a password), the column mapping,
                                         each part's settings, the time
    artifacts/<name>/orders.parquet      the order lines as mapped (order, customer, item, quantity,
                                         price, date, name, category): what the pages explore
    artifacts/<name>/basket_rules/       one artifact folder per part the data allows, each with
    artifacts/<name>/similar_products/   its own manifest, as the sub-commands write them
    artifacts/<name>/similar_customers/  (only with a customer column)

The whole folder is written beside its place and swapped in at the end (common.artifacts), so a
rebuild replaces it atomically and a failed one leaves the old workspace as it was.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

import settings
from common.artifacts import loading, read_manifest, utc_now, write_artifact
from common.errors import ArtifactError, InputError
from common.pathguard import inside
from common.shop_tables import CATALOGUE, ORDERS, RATINGS, OrderColumns, apply
from recommend.datasets.online_retail import customer_ids
from recommend.rules import model as rules_model
from recommend.rules.baskets import long_baskets
from recommend.similar_customers import model as customers_model
from recommend.similar_movies import model as movies_model
from recommend.similar_products import model as products_model
from recommend.similar_products import similarity as products_similarity

KIND = "workspace"
FORMAT_VERSION = 1
REBUILD = "python -m recommend build --orders ORDERS --name NAME"
ORDER_PARTS = ("basket_rules", "similar_products", "similar_customers")
PARTS = (*ORDER_PARTS, "similar_movies", "visual_index")
ORDERS_FILE, RATINGS_FILE, CATALOGUE_FILE = "orders.parquet", "ratings.parquet", "catalogue.parquet"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# Names the demo artifacts and data sets already use under artifacts/ or in links (every demo set
# of shop/demos.py among them: tests/shop/test_registry.py checks it).
RESERVED = frozenset({"basket_rules", "similar_products", "similar_customers", "similar_movies", "visual_index",
                      "visual", "demo", "evaluation", "events", "experiments", "upload",
                      "groceries", "online_retail", "superstore", "movielens", "fashion"})

Progress = Callable[[str, float], None]  # (what is being done, share of the whole build done)


@dataclass(frozen=True)
class Workspace:
    name: str
    folder: Path
    manifest: dict

    @property
    def parts(self) -> list[str]:
        return list(self.manifest.get("parts", {}))

    @property
    def label(self) -> str:
        return self.label_for(None)

    def label_for(self, part: str | None) -> str:
        """For pickers: the name and the size of what `part` is built from (orders, or ratings)."""
        m = self.manifest
        if not m["orders"] or part == "similar_movies":
            return f"{self.name} (your data: {m.get('ratings', 0):,} ratings of {m.get('rated_items', 0):,} items)"
        return f"{self.name} (your data: {m['orders']:,} orders, {m['products']:,} products)"

    def part(self, name: str) -> Path:
        if name not in self.parts:
            raise ArtifactError(f"Workspace {self.name} has no {name.replace('_', ' ')}; "
                                f"{self.manifest['parts_skipped'].get(name, 'rebuild it')}.")
        return self.folder / name

    def orders(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / ORDERS_FILE)

    def table(self, file: str) -> pd.DataFrame | None:
        """A saved mapped table (ORDERS_FILE, RATINGS_FILE, CATALOGUE_FILE), None if the workspace has none."""
        path = self.folder / file
        return pd.read_parquet(path) if path.is_file() else None


def check_name(name: str) -> str:
    """A workspace name is a folder name and a link parameter: lower-case letters, digits, - and _."""
    name = (name or "").strip()
    if not NAME_PATTERN.fullmatch(name):
        raise InputError(f"Workspace name {name!r} is not allowed: use 1 to 40 lower-case letters, digits, "
                         "'-' or '_', starting with a letter or digit (e.g. myshop).")
    if name in RESERVED:
        raise InputError(f"Workspace name {name!r} is taken by the demo data; choose another (e.g. my-{name}).")
    return name


def mapped_orders(table: pd.DataFrame, columns: OrderColumns | Mapping[str, str | None],
                  name: str = "the orders") -> pd.DataFrame:
    """The order lines with one column per mapped field (common.shop_tables.apply: every problem is
    an InputError first), then lines that are returns (quantity not positive) or lack an order or a
    product dropped (what was dropped is in `attrs["dropped"]`), sorted. `columns` may be the
    app's pickers' {field: column}."""
    lines = apply(table, ORDERS, as_mapping(columns), name)
    if "customer" in lines:  # "17850.0" (a float column written out) and "17850" are one customer
        lines["customer"] = customer_ids(lines["customer"]).astype(object)
    keep = (lines["order"] != "") & (lines["item"] != "")
    dropped = {"no_order_or_product": int((~keep).sum())}
    if "quantity" in lines:
        positive = lines["quantity"] > 0
        dropped["non_positive_quantity"] = int((keep & ~positive).sum())
        keep &= positive
    # A database returns rows in no set order: sorted, the same lines give the same workspace,
    # byte for byte, whether they came from a file or a query.
    out = lines[keep].sort_values(list(lines.columns), kind="stable", na_position="last").reset_index(drop=True)
    if out.empty:
        raise InputError(f"{name} has no order line left with an order, a product and a positive quantity.")
    out.attrs.update(lines.attrs, dropped=dropped)
    return out


def as_mapping(columns: OrderColumns | Mapping[str, str | None]) -> dict[str, str | None]:
    """{field: column} of the orders, from OrderColumns or a mapping already in that shape."""
    return (columns if isinstance(columns, OrderColumns) else OrderColumns.of(columns)).mapping()


def mapped_ratings(table: pd.DataFrame, mapping: Mapping[str, str | None], name: str = "the ratings") -> pd.DataFrame:
    """Ratings with one column per mapped field (user, item, rating, time), checked; blank ids dropped."""
    lines = apply(table, RATINGS, mapping, name)
    out = lines[(lines["user"] != "") & (lines["item"] != "")].reset_index(drop=True)
    if out.empty:
        raise InputError(f"{name} has no rating with both a user and an item.")
    out = out.sort_values(list(out.columns), kind="stable", na_position="last").reset_index(drop=True)
    out.attrs.update(lines.attrs)
    return out


def mapped_catalogue(table: pd.DataFrame, mapping: Mapping[str, str | None], name: str = "the catalogue",
                     image_base: Path | None = None) -> pd.DataFrame:
    """The catalogue with one column per mapped field (id, name, category, image), one row per id;
    image paths relative to `image_base` (the catalogue file's folder) made absolute, URLs kept.
    Picture files are used only under `image_base` (attrs["image_root"]); without one, only URLs."""
    lines = apply(table, CATALOGUE, mapping, name)
    out = lines[lines["id"] != ""].drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)
    if "image" in out and image_base is not None:
        local = (out["image"] != "") & ~out["image"].map(is_url)
        out.loc[local, "image"] = [str((Path(image_base) / p).resolve()) if not Path(p).is_absolute() else p
                                   for p in out.loc[local, "image"]]
    out.attrs.update(lines.attrs)
    if image_base is not None:
        out.attrs["image_root"] = str(Path(image_base).resolve())
    return out


def is_url(text: str) -> bool:
    return str(text).lower().startswith(("http://", "https://"))


def _visual_index(catalogue: pd.DataFrame | None, out: Path, weights: str | None, progress: Progress,
                  previous: Path | None = None) -> dict | str:
    """Embed the catalogue's pictures, files or http(s) URLs (python -m embed build, in its own
    process: only embed/ imports TensorFlow) into `out`, starting from the workspace's `previous`
    visual index when there is one (its vectors are reused, its URLs asked for conditionally); the
    part's facts, or why there is none."""
    if catalogue is None or "image" not in catalogue:
        return "give a catalogue with an image column to build it"
    root = catalogue.attrs.get("image_root")  # picture files only under it (common.pathguard)
    pictures = catalogue[catalogue["image"].map(
        lambda p: bool(p) and (is_url(p) or (root is not None and inside(p, root) and Path(p).is_file())))]
    if pictures.empty and root is None and (catalogue["image"] != "").any():
        return ("the catalogue's pictures are files on this server, which a catalogue uploaded here may name "
                "only under VITRINE_IMAGES_ROOT (not set); give http(s) URLs or set it to their folder")
    if pictures.empty:
        where = f"a file under {root}" if root is not None else "a file here"
        return f"none of the catalogue's images is {where} or an http(s) URL"
    if previous is not None and (previous / "manifest.json").is_file():
        shutil.copytree(previous.resolve(), out, copy_function=_link_or_copy)  # artifacts never change in place
    with tempfile.TemporaryDirectory(prefix="vitrine-catalogue-") as stage:
        pictures.to_csv(Path(stage) / "catalogue.csv", index=False)
        command = [sys.executable, "-m", "embed", "build", "--catalogue", str(Path(stage) / "catalogue.csv"),
                   "--out", str(out), "--weights", weights or settings.WEIGHTS,
                   *(["--images-root", root] if root is not None else [])]
        process = subprocess.Popen(command, cwd=settings.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        tail = _follow(process, len(pictures), progress)
        if process.wait() != 0:
            lines = [line for line in tail.replace("\r", "\n").splitlines() if line.startswith("error:")]
            return f"embedding the pictures failed: {lines[-1][7:] if lines else 'see python -m embed build'}"
    built = read_manifest(out)
    return {"products": int(built["count"]), "skipped": len(built.get("skipped", [])),
            "urls": int(pictures["image"].map(is_url).sum()), "weights": weights or settings.WEIGHTS,
            "index_type": built.get("vector_storage", {}).get("index_type", "exact")}


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


# What the embed job says on stderr, as the page's progress: its "Embedding" bar's count (tqdm's
# "N/M"; other bars, such as hashing or NNCF's calibration, are not the pictures embedded), and
# the int8 calibration and check of `--precision auto` (embed/precision.py), which take a minute.
_EMBEDDED = re.compile(r"Embedding:[^\r\n]*?(\d+)/(\d+)")
_STAGES = {"Calibrating the int8 model": "Calibrating the int8 model on some of the pictures",
           "auto precision: checking int8": "Checking the int8 model against fp32 on some of the pictures"}


def _follow(process: subprocess.Popen, total: int, progress: Progress) -> str:
    """Pass the embedding's progress on stderr on to `progress`; return the last output."""
    tail = ""
    while True:
        chunk = process.stderr.read1(4096) if hasattr(process.stderr, "read1") else process.stderr.read(4096)
        if not chunk:
            return tail
        tail = (tail + chunk.decode("utf-8", "replace"))[-4000:]
        said = [(m.start(), _embedding(int(m[1]), int(m[2]), total), int(m[1]) / max(int(m[2]), 1))
                for m in _EMBEDDED.finditer(tail)]
        said += [(tail.rfind(key), what, 0.0) for key, what in _STAGES.items() if key in tail]
        if said:
            _, what, share = max(said)
            progress(what, 0.88 + 0.08 * share)


def _embedding(done: int, todo: int, total: int) -> str:
    """The page's line for the Embedding bar: `todo` of the `total` pictures are new or changed."""
    reused = f" (the other {total - todo:,} are reused)" if 0 < todo < total else ""
    return f"Embedding product pictures: {done:,} / {todo:,}{reused}"


def _names_from(catalogue: pd.DataFrame | None, orders: pd.DataFrame) -> pd.DataFrame:
    """Orders without a product name (or category) take them from the catalogue, by product id."""
    if catalogue is None:
        return orders
    by_id = catalogue.set_index("id")
    for role in ("name", "category"):
        if role not in orders and role in by_id:
            orders = orders.assign(**{role: orders["item"].map(by_id[role]).fillna("").astype(object)})
    return orders


def build(orders: "pd.DataFrame | LocalOrders | None", name: str, *, source: dict, ratings: pd.DataFrame | None = None,
          catalogue: pd.DataFrame | None = None, sources: dict | None = None, artifacts: Path | None = None,
          min_support: float | None = None, min_confidence: float | None = None, min_lift: float | None = None,
          k: int = products_model.DEFAULT_K, weights: str | None = None, progress: Progress | None = None,
          rebuild: str | None = None, models: Mapping[str, str] | None = None) -> Workspace:
    """Build every part the data allow into artifacts/<name> (replacing what was there): from
    mapped `orders` (a DataFrame from `mapped_orders`, built here, or recommend.workspace.spark's
    SparkOrders, built on Spark), basket rules, similar products and (with customers) similar customers; from
    mapped `ratings`, similar items (the Similar movies page). A mapped `catalogue` gives products
    their names, categories and pictures, and its local pictures a visual index (with `weights`,
    default settings.WEIGHTS).

    Basket rules are over product names where there are names (rules read best so), else ids;
    min support is chosen as the app chooses it for a new file unless given. `models` picks a
    registered model per part ({"similar_products": "jaccard"}); the others keep their default."""
    name = check_name(name)
    models = check_models(models)
    if orders is None and ratings is None:
        raise InputError("A workspace needs orders, ratings or both.")
    folder = Path(artifacts or settings.ARTIFACTS_DIR) / name
    progress = progress or (lambda what, done: None)
    started = time.perf_counter()
    parts, skipped, seconds, facts = {}, {}, {}, {}
    with write_artifact(folder, KIND, FORMAT_VERSION, rebuild=rebuild or REBUILD.replace("NAME", name)) as draft:
        progress("Saving the mapped tables", 0.02)
        if orders is not None:
            orders = (LocalOrders(orders) if isinstance(orders, pd.DataFrame) else orders).with_names(catalogue)
            orders.save(draft.path / ORDERS_FILE)
        for file, table in ((RATINGS_FILE, ratings), (CATALOGUE_FILE, catalogue)):
            if table is not None:
                _save_table(table, draft.path / file)
        if orders is not None:
            facts.update(_order_parts(orders, name, draft.path, parts, skipped, seconds, progress, k=k, models=models,
                                      min_support=min_support, min_confidence=min_confidence, min_lift=min_lift))
        else:
            skipped.update({p: "give orders to build it" for p in ORDER_PARTS})
        if ratings is not None:
            t = time.perf_counter()
            progress("Finding similar items from the ratings", 0.85)
            items = movies_model.build(*rated_items(ratings, catalogue), k=movies_model.DEFAULT_K,
                                       min_ratings=movies_model.DEFAULT_MIN_RATINGS, model=models["similar_movies"])
            movies_model.write(items, draft.path / "similar_movies", {"workspace": name})
            parts["similar_movies"] = {"model": items.manifest["model"],
                                       "items_with_neighbours": items.manifest["movies_with_neighbours"],
                                       "min_ratings": items.manifest["min_ratings"]}
            seconds["similar_movies"] = round(time.perf_counter() - t, 2)
            facts.update(ratings=int(len(ratings)), rated_items=int(ratings["item"].nunique()))
        else:
            skipped["similar_movies"] = "give ratings (user, item, rating) to build it"
        progress("Embedding product pictures", 0.88)
        visual = _visual_index(catalogue, draft.path / "visual_index", weights, progress, previous=folder / "visual_index")
        if isinstance(visual, dict):
            parts["visual_index"] = visual
        else:
            skipped["visual_index"] = visual
        progress("Writing the workspace", 0.97)
        draft.manifest.update({
            "name": name, "source": source, "sources": sources or {"orders": source},
            "mapping": dict(orders.attrs.get("mapping", {})) if orders is not None else {},
            "mappings": {t: dict(x.attrs.get("mapping", {})) for t, x in
                         (("orders", orders), ("ratings", ratings), ("catalogue", catalogue)) if x is not None},
            "read": dict(orders.attrs.get("read", {})) if orders is not None else {},
            "engine": orders.engine if orders is not None else "local",
            "order_lines": 0, "orders": 0, "products": 0, "customers": 0, **facts,
            "catalogue_products": int(len(catalogue)) if catalogue is not None else 0,
            "pictures": bool(catalogue is not None and "image" in catalogue and (catalogue["image"] != "").any()),
            "images_root": catalogue.attrs.get("image_root") if catalogue is not None else None,
            "parts": parts, "parts_skipped": skipped,
            "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)}, "created": utc_now(),
        })
    progress("Done", 1.0)
    return open_workspace(name, artifacts)


def check_models(models: Mapping[str, str] | None) -> dict[str, str]:
    """A registered model for each part that has several ({part: name}, the defaults filled in);
    parts may be spelt as the flags spell them (similar-products)."""
    registries = {"similar_products": products_similarity.MODELS, "similar_customers": customers_model.MODELS,
                  "similar_movies": movies_model.MODELS}
    chosen = {part: registry.check(default) for (part, registry), default in zip(
        registries.items(), (products_model.DEFAULT_SIMILARITY, customers_model.DEFAULT_MODEL,
                             movies_model.DEFAULT_MODEL))}
    for part, name in (models or {}).items():
        key = part.replace("-", "_")
        if key not in registries:
            raise InputError(f"--model takes PART=NAME with PART one of {', '.join(registries)}, not {part!r} "
                             "(basket rules have one model).")
        chosen[key] = registries[key].check(name)
    return chosen


def customer_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """The order lines that have a customer."""
    return orders[orders["customer"] != ""] if "customer" in orders.columns else orders.iloc[:0]


def _save_table(table: pd.DataFrame, path: Path) -> None:
    saved = table.copy()
    saved.attrs = {}  # how it was read is in the manifest, not in the data file
    saved.to_parquet(path, index=False)


class LocalOrders:
    """Mapped order lines (mapped_orders) and the order parts built from them in this process.
    recommend/workspace/spark.py's SparkOrders is the same shape, on Spark."""

    engine = "local"

    def __init__(self, lines: pd.DataFrame):
        self.lines = lines

    @property
    def attrs(self) -> dict:
        return self.lines.attrs

    @property
    def columns(self) -> list[str]:
        return list(self.lines.columns)

    def with_names(self, catalogue: pd.DataFrame | None) -> "LocalOrders":
        return LocalOrders(_names_from(catalogue, self.lines))

    def save(self, path: Path) -> None:
        _save_table(self.lines, path)

    def all_named(self) -> bool:
        return "name" in self.lines and bool((self.lines["name"] != "").all())

    def rules(self, label: str, *, min_support: float | None, min_confidence: float, min_lift: float):
        baskets = long_baskets(self.lines, OrderColumns(order="order", item=label), {"name": "the orders"})
        if min_support is None:
            min_support, _ = rules_model.starting_support(baskets, min_confidence=min_confidence, min_lift=min_lift)
        return rules_model.build(baskets, min_support=min_support, min_confidence=min_confidence, min_lift=min_lift)

    def similar_products(self, k: int, model: str = products_model.DEFAULT_SIMILARITY):
        return products_model.build(self.lines, OrderColumns.mapped(self.lines.columns), k=k, similarity=model)

    def similar_customers(self, model: str = customers_model.DEFAULT_MODEL):
        with_customer = customer_orders(self.lines)
        return (customers_model.build(with_customer, OrderColumns.mapped(self.lines.columns), model=model)
                if len(with_customer) else None)

    def facts(self) -> dict:
        lines, with_customer = self.lines, customer_orders(self.lines)
        return {"dropped": dict(lines.attrs.get("dropped", {})), "order_lines": int(len(lines)),
                "orders": int(lines["order"].nunique()), "products": int(lines["item"].nunique()),
                "customers": int(with_customer["customer"].nunique()) if len(with_customer) else 0}


def _order_parts(orders: LocalOrders, name: str, out: Path, parts: dict, skipped: dict, seconds: dict,
                 progress: Progress, *, k: int, models: Mapping[str, str], min_support, min_confidence,
                 min_lift) -> dict:
    """Basket rules, similar products and similar customers from the orders (on their engine);
    the orders' facts."""
    t = time.perf_counter()
    label = "name" if orders.all_named() else "item"
    progress("Mining basket rules", 0.05)
    confidence = rules_model.defaults.MIN_CONFIDENCE if min_confidence is None else min_confidence
    lift = rules_model.defaults.MIN_LIFT if min_lift is None else min_lift
    rules = orders.rules(label, min_support=min_support, min_confidence=confidence, min_lift=lift)
    rules_model.write(rules, out / "basket_rules", {"workspace": name, "item_field": label})
    parts["basket_rules"] = {"rules": rules.manifest["rules"], "item_field": label,
                             "thresholds": rules.manifest["thresholds"]}
    seconds["basket_rules"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    progress("Finding similar products", 0.4)
    similar = orders.similar_products(k, models["similar_products"])
    products_model.write(similar, out / "similar_products", {"workspace": name})
    parts["similar_products"] = {"model": similar.manifest["similarity"], "k": similar.manifest["k"],
                                 "similarity": similar.manifest["similarity"],
                                 "products_with_similar": similar.manifest["products_with_similar"]}
    seconds["similar_products"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    progress("Finding similar customers", 0.65)
    customers = orders.similar_customers(models["similar_customers"])
    if customers is not None:
        customers_model.write(customers, out / "similar_customers", {"workspace": name})
        parts["similar_customers"] = {"model": customers.manifest["model"], "customers": customers.manifest["customers"],
                                      "k": customers.manifest["k"]}
        seconds["similar_customers"] = round(time.perf_counter() - t, 2)
    else:
        skipped["similar_customers"] = "map a customer id column to build it"
    return orders.facts()


def item_ids(ids: pd.Series) -> pd.Series:
    """Rated items' ids: numbers when every id is a whole number (MovieLens' movieId), else text."""
    text = ids.astype(str)
    return text.astype("int64") if len(text) and text.str.fullmatch(r"\d{1,18}").all() else text.astype(object)


def rated_items(ratings: pd.DataFrame, catalogue: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ratings and their items in the similar-items model's layout (userId, movieId, rating,
    timestamp when the time is mapped; movieId, title, genres): titles from the catalogue's names, else the ids themselves."""
    table = pd.DataFrame({"userId": ratings["user"], "movieId": item_ids(ratings["item"]), "rating": ratings["rating"]})
    if "time" in ratings.columns:  # the evaluation holds out each user's latest ratings
        table["timestamp"] = pd.to_datetime(ratings["time"], errors="coerce").astype("int64") // 10**9
    ids = pd.Series(sorted(ratings["item"].unique()), dtype=object)
    by_id = catalogue.set_index("id") if catalogue is not None else pd.DataFrame(index=pd.Index([], name="id"))
    titles = ids.map(by_id["name"]) if "name" in by_id else pd.Series(index=ids.index, dtype=object)
    genres = ids.map(by_id["category"]) if "category" in by_id else pd.Series(index=ids.index, dtype=object)
    items = pd.DataFrame({"movieId": item_ids(ids), "title": titles.where(titles.fillna("") != "", ids),
                          "genres": genres.fillna("")})
    return table, items


def open_workspace(name: str, artifacts: Path | None = None) -> Workspace:
    folder = Path(artifacts or settings.ARTIFACTS_DIR) / name
    with loading(folder, KIND, FORMAT_VERSION, REBUILD.replace("NAME", name)) as art:
        return Workspace(name, folder, art.manifest)


def list_workspaces(artifacts: Path | None = None) -> list[Workspace]:
    """Every whole workspace under `artifacts`, newest first (damaged or half-written ones left out)."""
    root = Path(artifacts or settings.ARTIFACTS_DIR)
    found = []
    for manifest in root.glob("*/manifest.json"):
        folder = manifest.parent
        if not NAME_PATTERN.fullmatch(folder.name) or folder.name in RESERVED:
            continue
        try:
            if read_manifest(folder).get("kind") == KIND:
                found.append(open_workspace(folder.name, root))
        except ArtifactError:
            continue
    return sorted(found, key=lambda w: w.manifest.get("created", ""), reverse=True)
