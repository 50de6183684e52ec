"""The "Your data" page: a shop's own orders, from an upload or its database, mapped and built
into a workspace that every page then offers in its data-set picker.

Steps: read the table (a file stays in this session's memory; the database is the one in
`.streamlit/secrets.toml` under [connections.sql], its URL never shown), map its columns (every
guess can be changed), see every problem before building, name the workspace, build it with
progress. The build is recommend.workspace's, the same as `python -m recommend build`.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

import settings
from common.errors import USER_ERRORS, InputError
from common.shop_tables import CATALOGUE, ORDERS, RATINGS, Schema, guess, problems, read_table
from recommend.core.sources import TableSource
from recommend.workspace import model
from ui import access
from ui.datasets import workspaces
from ui.memory import release
from ui.pages import PAGES

NONE = "(none)"
UPLOAD_TYPES = ["csv", "gz", "txt", "tsv", "xlsx", "parquet"]
FILE, DATABASE = "Upload a file", "Read from the shop's database"


@st.cache_resource(show_spinner=False, max_entries=2)
def _read_upload(digest: str, data: bytes, name: str) -> pd.DataFrame:
    """The upload as text columns (one shared copy per file, named by its digest)."""
    return read_table(data, name=name, what="Orders")


def _read_database(query: str | None, table: str | None) -> pd.DataFrame:
    """The rows of the query or table, with a progress bar; kept in this session until another
    query is read (read again by asking again: the database may have changed)."""
    key = (query, table)
    kept = st.session_state.get("yd_db_read")
    if kept is not None and kept[0] == key:
        return kept[1]
    slot = st.empty()
    bar = slot.progress(0.0, text="Reading from the database...")

    def report(rows: int, total: int | None) -> None:
        bar.progress(min(rows / total, 1.0) if total else 0.0,
                     text=f"Reading from the database: {rows:,}" + (f" of {total:,} rows" if total else " rows"))

    rows = TableSource(engine=_engine(), query=query, table=table).read(progress=report)
    slot.empty()
    if query is not None:
        access.audit("free-text SQL run", query=query[:2000], rows=len(rows))
    st.session_state["yd_db_read"] = (key, rows)
    return rows


def _engine():
    """The SQLAlchemy engine of st.connection("sql"): [connections.sql] in .streamlit/secrets.toml
    (the section is passed on as keyword arguments too, so secrets given another way also count)."""
    section = st.secrets["connections"]["sql"]
    return st.connection("sql", type="sql", **{k: section[k] for k in section}).engine


def _readable(schemas: tuple[str, ...] | None) -> list[str]:
    """The tables the database role can SELECT in `schemas` (recommend.core.sources.readable_tables)."""
    from recommend.core import sources

    return sources.readable_tables(_engine(), schemas=list(schemas) if schemas else None)


def _database_configured() -> bool:
    try:
        return "sql" in st.secrets.get("connections", {})
    except (FileNotFoundError, KeyError, AttributeError, st.errors.StreamlitSecretNotFoundError):
        return False


def _from_file() -> tuple[pd.DataFrame, dict, str] | None:
    upload = st.file_uploader("Orders file: one row per order line", type=UPLOAD_TYPES, key="yd_upload",
                              help="CSV (any delimiter and encoding), CSV.gz, Excel .xlsx or Parquet.")
    if upload is None:
        st.caption("The file stays in this session's memory; the workspace keeps only what is built from it, "
                   "and its digest.")
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with st.spinner(f"Reading {upload.name}..."):
        table = _read_upload(digest, data, upload.name)
    return table, {"upload": upload.name, "sha256": digest}, Path(upload.name).name.split(".")[0]


def _from_database() -> tuple[pd.DataFrame, dict, str] | None:
    if not _database_configured():
        st.info("No database is configured. Add it to `.streamlit/secrets.toml` (never committed):\n\n"
                "```toml\n[connections.sql]\nurl = \"postgresql://user:password@host:5432/shop\"\n```\n\n"
                "then reload this page. Vitrine only reads from it.")
        return None
    who = access.current()
    how = (st.radio("Read", ["a table", "a query"], horizontal=True, key="yd_sql_how") if who.sql_free_text
           else "a table")
    if not who.sql_free_text:  # no typed SQL, no typed names: only the tables this role can read
        tables = _readable(who.sql_schemas)
        if not tables:
            st.info("The database role can SELECT no table in the configured schemas "
                    "([vitrine.access] sql_schemas); grant it SELECT on the shop's order lines.")
            return None
        table_name, query = st.selectbox("Table", tables, key="yd_sql_pick"), None
    elif how == "a table":
        table_name = st.text_input("Table (schema.table allowed)", key="yd_sql_table", placeholder="order_lines")
        query = None
    else:
        query = st.text_area("Query", key="yd_sql_query", placeholder="SELECT * FROM order_lines WHERE ...")
        table_name = None
    if not (table_name or query or "").strip():
        return None
    if st.button("Read again", key="yd_sql_again", help="The database may have changed since it was read."):
        st.session_state.pop("yd_db_read", None)
    table = _read_database(query.strip() if query else None, table_name.strip() if table_name else None)
    source = TableSource(engine=_engine(), query=query, table=table_name)
    return table, source.describe(len(table)), (table_name or "orders").split(".")[-1]


def _mapping(table: pd.DataFrame, tag: str, schema: Schema = ORDERS) -> dict[str, str | None]:
    """One picker per field of `schema`, opening on the guess; the chosen column of each."""
    columns = [str(c) for c in table.columns]
    guessed = guess(columns, schema)
    chosen = {}
    cells = st.columns(4)
    for i, field in enumerate(schema.fields):
        options = ([] if field.required else [NONE]) + columns
        default = guessed[field.role]
        index = options.index(default) if default in options else 0
        value = cells[i % 4].selectbox(field.label[4:].capitalize() + ("" if field.required else " (optional)"),
                                       options, index=index, key=f"yd_map_{schema.name}_{field.role}_{tag}")
        chosen[field.role] = None if value == NONE else value
    return chosen


def _extra(schema: Schema, label: str, help_text: str) -> tuple[pd.DataFrame, dict, dict] | None:
    """An optional ratings or catalogue upload with its mapping: (table, mapping, source) or None."""
    upload = st.file_uploader(label, type=UPLOAD_TYPES, key=f"yd_upload_{schema.name}", help=help_text)
    if upload is None:
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    table = _read_upload(digest, data, upload.name)
    st.caption(f"{upload.name}: {len(table):,} rows; which column holds what:")
    mapping = _mapping(table, digest[:8], schema)
    return table, mapping, {"upload": upload.name, "sha256": digest}


def _default_name(stem: str) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:40] or "myshop"
    return name if name not in model.RESERVED else f"my-{name}"


def _build(tables: dict, name: str) -> model.Workspace | None:
    """Build from {"orders"|"ratings"|"catalogue": (table, mapping, source)} with a progress bar."""
    with st.status(f"Building workspace {name}...", expanded=True) as status:
        bar = st.progress(0.0, text="Checking the tables")
        mappers = {"orders": model.mapped_orders, "ratings": model.mapped_ratings,  # picture files: settings
                   "catalogue": partial(model.mapped_catalogue, image_base=settings.IMAGES_ROOT)}
        try:
            mapped = {what: mappers[what](table, mapping, source.get("upload") or f"the {what}")
                      for what, (table, mapping, source) in tables.items()}
            sources = {what: source for what, (_, _, source) in tables.items()}
            workspace = model.build(mapped.get("orders"), name, source=sources.get("orders") or sources["ratings"],
                                    sources=sources, ratings=mapped.get("ratings"), catalogue=mapped.get("catalogue"),
                                    progress=lambda what, done: bar.progress(min(done, 1.0), text=what))
        except USER_ERRORS as exc:
            status.update(label=f"Nothing was built: {exc}".splitlines()[0], state="error")
            return None
        finally:
            release()
        seconds = workspace.manifest["seconds"]["total"]
        status.update(label=f"Built workspace {name} in {seconds} s", state="complete", expanded=False)
    return workspace


def _links(workspace: model.Workspace) -> None:
    pages = {p.name: p for p in PAGES}
    row = st.container(horizontal=True)
    for part in workspace.parts:
        page = pages[part]
        row.page_link(f"ui/pages/{page.name}.py", label=f"{page.title} of {workspace.name}", icon=page.icon,
                      query_params={"dataset": workspace.name})


def _built() -> None:
    found = workspaces()
    st.markdown("#### Workspaces")
    if not found:
        st.caption(f"None yet under `{Path(settings.ARTIFACTS_DIR).name}/`.")
        return
    rows = [{"name": w.name, "order lines": w.manifest["order_lines"], "orders": w.manifest["orders"],
             "products": w.manifest["products"], "customers": w.manifest["customers"],
             "parts": ", ".join(p.replace("_", " ") for p in w.parts),
             "from": w.manifest["source"].get("upload") or w.manifest["source"].get("file")
             or w.manifest["source"].get("table") or "a query",
             "built (UTC)": w.manifest["created"][:16].replace("T", " ")} for w in found]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Rebuild a workspace by building again under its name; `python -m recommend build --name NAME` "
               "does the same from a terminal.")


def render() -> None:
    st.subheader("Your data")
    if not access.current().admin:  # the menu hides it; a direct script run must not get past either
        st.error("Your data is for the shop's admins: sign in with an address listed in [vitrine.access] admins.")
        return
    st.caption("Bring your shop's order lines (order, product, and if you have them customer, quantity, price, "
               "date, name, category): Vitrine builds basket rules, similar products and similar customers "
               "from them, and every page offers the result in its data-set picker. Ratings (user, item, rating) "
               "add similar items; a catalogue adds product names, categories and pictures.")
    route = st.radio("Orders from", [FILE, DATABASE], horizontal=True, key="yd_route")
    try:
        read = _from_file() if route == FILE else _from_database()
    except USER_ERRORS as exc:
        st.error(str(exc).splitlines()[0])
        read = None
    tables, found, stem = {}, [], "myshop"
    if read is not None:
        table, source, stem = read
        tag = hashlib.sha256(repr(sorted(source.items())).encode()).hexdigest()[:8]
        st.markdown(f"**{len(table):,} rows, {len(table.columns)} columns.** The first rows:")
        st.dataframe(table.head(5), hide_index=True, width="stretch")
        st.markdown("#### Which column holds what")
        mapping = _mapping(table, tag)
        found += problems(table, ORDERS, mapping, source.get("upload") or "the table")
        tables["orders"] = (table, mapping, source)
    with st.expander("Ratings and a catalogue (optional)", expanded=False):
        for schema, label, help_text in (
                (RATINGS, "Ratings file: user, item, rating", "Any rated items (films, books, products): "
                                                              "they get the Similar movies page."),
                (CATALOGUE, "Catalogue file: product id, name, category, image",
                 "Names and categories for products the orders only name by id; the image column "
                 "(a file path or an http(s) URL) shows their pictures and, fetched and embedded, "
                 "gives the workspace its own Visual search.")):
            try:
                extra = _extra(schema, label, help_text)
            except USER_ERRORS as exc:
                st.error(str(exc).splitlines()[0])
                continue
            if extra is not None:
                found += problems(extra[0], schema, extra[1], extra[2]["upload"])
                tables[schema.name] = extra
                if read is None and schema is RATINGS:  # named after the ratings when there are no orders
                    stem = Path(extra[2]["upload"]).name.split(".")[0]
    for line in found:
        st.error(line)
    if "orders" in tables or "ratings" in tables:
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        name = left.text_input("Workspace name", value=_default_name(stem), key=f"yd_name_{stem}",
                               help="Lower-case letters, digits, - and _; building again under a name replaces it.")
        clicked = right.button("Build the workspace", type="primary", disabled=bool(found), key="yd_build")
        if clicked:
            try:
                model.check_name(name)
            except InputError as exc:
                st.error(str(exc))
            else:
                replaced = any(w.name == name for w in workspaces())
                workspace = _build(tables, name)
                if workspace is not None:
                    st.session_state["yd_built"] = workspace.name
                    source = tables.get("orders", tables.get("ratings"))[2]
                    access.audit("workspace replaced" if replaced else "workspace created", dataset=name,
                                 source=json.dumps(source, default=str))
        built = st.session_state.get("yd_built")
        ws = next((w for w in workspaces() if w.name == built), None)
        if ws is not None:
            m = ws.manifest
            facts = (f"{m['orders']:,} orders, {m['products']:,} products, {m['customers']:,} customers"
                     if m["orders"] else f"{m.get('ratings', 0):,} ratings of {m.get('rated_items', 0):,} items")
            st.success(f"Workspace **{ws.name}** is ready: {facts}.")
            _links(ws)
    _built()
