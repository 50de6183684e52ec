"""`python -m recommend export`: a workspace's lists into a shop's database (or as files at any
fsspec URL), for its back end to serve without Vitrine running.

Tables (each name after --table-prefix, default "vitrine_"):
    similar_products    item, rank, similar_item, score, co_count
    recommendations     customer, rank, item, name, score, support_count, reason   (with similar customers)
    next_to             item, rank, show                                             (the basket lookup)
    next_to_default     rank, show        (what to show next to an item without an entry)

All tables are written in one transaction: on any failure the database keeps the tables it had
(where the database has transactional DDL, as PostgreSQL and SQLite do; MySQL commits each
CREATE/DROP itself). This is the one place Vitrine writes to a shop's database, and only when asked.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import pandas as pd

import settings
from common.errors import InputError
from common.redact import is_secret_name, redact
from recommend.core.sources import SQL_PASSWORD_ENV, engine_for, reason
from recommend.rules import model as rules_model
from recommend.similar_customers import model as customers_model
from recommend.similar_products import model as products_model
from recommend.workspace.model import Workspace, open_workspace

MODES = ("replace", "append")
PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,29}")


def tables(workspace: Workspace) -> dict[str, pd.DataFrame]:
    """{table name without prefix: rows} for every list the workspace has."""
    out: dict[str, pd.DataFrame] = {}
    if "similar_products" in workspace.parts:
        similar = products_model.load(workspace.part("similar_products"))
        out["similar_products"] = similar.neighbours[["item", "rank", "similar_item", "score", "co_count"]]
    if "similar_customers" in workspace.parts:
        customers = customers_model.load(workspace.part("similar_customers"))
        recs = customers.recommendations.copy()
        nearest = customers.manifest["k"]
        recs["reason"] = [f"bought by {n} of your {nearest} nearest customers" for n in recs["support_count"]]
        out["recommendations"] = recs[["customer", "rank", "item", "name", "score", "support_count", "reason"]]
    if "basket_rules" in workspace.parts:
        rules = rules_model.load(workspace.part("basket_rules"))
        out["next_to"] = rules.lookup[["item", "rank", "show"]]
        out["next_to_default"] = pd.DataFrame({"rank": range(1, len(rules.default_recommendation) + 1),
                                               "show": rules.default_recommendation})
    return out


def export(workspace: Workspace, url: str, *, prefix: str = "vitrine_", mode: str = "replace") -> dict[str, int]:
    """Write the workspace's tables into the database at `url` in one transaction; rows per table."""
    from sqlalchemy.exc import SQLAlchemyError

    if not PREFIX.fullmatch(prefix):
        raise InputError(f"--table-prefix {prefix!r} is not allowed: lower-case letters, digits and _, "
                         "starting with a letter or _ (e.g. vitrine_).")
    if mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}.")
    rows = tables(workspace)
    engine = engine_for(url, existing=False)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.begin() as conn:  # one transaction: all tables or none
            for name, table in rows.items():
                table.to_sql(prefix + name, conn, if_exists=mode, index=False, chunksize=10_000)
    except SQLAlchemyError as exc:
        raise InputError(f"Nothing was exported to {shown} (the tables there are as they were): {reason(exc)}.") from None
    finally:
        engine.dispose()
    return {prefix + name: len(table) for name, table in rows.items()}


FILE_FORMATS = {"json": "JSON", "parquet": "Parquet", "csv": "CSV"}


def export_files(workspace: Workspace, url: str, *, prefix: str = "vitrine_", fmt: str = "json") -> list[str]:
    """Write the workspace's tables as files under an fsspec URL (file://, s3://, gs://, memory://...;
    s3fs or gcsfs for those); each file is written under a temporary name and moved into place,
    so a reader never sees half a file. The URLs written."""
    import fsspec

    from common.exports import table_file

    if fmt not in FILE_FORMATS:
        raise InputError(f"--format must be one of {', '.join(FILE_FORMATS)}, not {fmt!r}.")
    if not PREFIX.fullmatch(prefix):
        raise InputError(f"--table-prefix {prefix!r} is not allowed: lower-case letters, digits and _.")
    refuse_query_secrets(url)
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"Cannot write to {url}: {exc} (s3:// needs s3fs, gs:// gcsfs).") from exc
    fs.makedirs(root, exist_ok=True)
    written = []
    for name, table in tables(workspace).items():
        final = f"{root.rstrip('/')}/{prefix}{name}.{fmt}"
        partial = f"{root.rstrip('/')}/.{prefix}{name}.{fmt}.partial"
        with fs.open(partial, "wb") as out:
            out.write(table_file(table, FILE_FORMATS[fmt]))
        fs.mv(partial, final)
        written.append(fs.unstrip_protocol(final))
    return written


def refuse_query_secrets(url: str) -> None:
    """InputError for a secret in an --export-url's query (`?token=`, `?key=`, `?sig=`...): fsspec
    does not read credentials from a URL's query but keeps it in the path, so the secret would
    become part of the files' names and of every message naming them."""
    from urllib.parse import parse_qsl, urlsplit

    for part in url.split("::"):  # fsspec chains URLs: simplecache::s3://...
        named = [name for name, _ in parse_qsl(urlsplit(part).query, keep_blank_values=True) if is_secret_name(name)]
        if named:
            raise InputError(f"--export-url {redact(url)} carries {', '.join(named)} in its query, which fsspec would "
                             "write into the files' names; give credentials as the storage's own settings instead "
                             "(e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, or "
                             "fsspec's config file) and the URL without them.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Write a workspace's similar products, customers' recommendations and basket lookup into SQL "
                     "tables of the shop's database, in one transaction.")
    p.add_argument("--name", required=True, help="the workspace (built with python -m recommend build)")
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR, help="where workspaces live")
    p.add_argument("--export-sql", default=None, metavar="URL",
                   help=f"SQLAlchemy URL of the database to write to (password from ${SQL_PASSWORD_ENV}, or @FILE)")
    p.add_argument("--export-url", default=None, metavar="URL",
                   help="or a folder at any fsspec URL (file:///srv/lists, s3://bucket/vitrine, gs://...) for files")
    p.add_argument("--format", choices=FILE_FORMATS, default="json", help="with --export-url (default json)")
    p.add_argument("--table-prefix", default="vitrine_", help="prefix of the table names (default vitrine_)")
    p.add_argument("--mode", choices=MODES, default="replace",
                   help="replace the tables (default) or append to them")


def run(args) -> int:
    if not args.export_sql and not args.export_url:
        raise InputError("Say where to: --export-sql URL (tables in a database) or --export-url URL (files).")
    started = time.perf_counter()
    workspace = open_workspace(args.name, args.artifacts)
    if args.export_sql:
        written = export(workspace, args.export_sql, prefix=args.table_prefix, mode=args.mode)
        done = ", ".join(f"{name} ({n:,} rows)" for name, n in written.items())
        print(f"Exported workspace {workspace.name} in {time.perf_counter() - started:.1f} s: {done}.")
    if args.export_url:
        files = export_files(workspace, args.export_url, prefix=args.table_prefix, fmt=args.format)
        print(redact(f"Wrote {len(files)} files of workspace {workspace.name}: {', '.join(files)}."))
    return 0
