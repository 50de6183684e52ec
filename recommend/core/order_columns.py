"""A shop's orders on the command line, the same in every sub-command: where they come from
(`--orders FILE`, or `--orders-sql URL` with `--orders-query "SELECT ..."` or `--orders-table NAME`)
and which columns hold what (--order-col, --customer-col, --item-col, --quantity-col, --name-col,
--category-col, --price-col, --date-col), guessed from the header when left out by the one
mapping the app uses too (common/shop_tables.py). An empty flag ("--name-col ''") means none.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable, Mapping

from common.errors import InputError
from common.shop_tables import ORDERS, OrderColumns, guess
from recommend.core.sources import SQL_PASSWORD_ENV, TableSource

FLAGS = {"order": "--order-col", "customer": "--customer-col", "item": "--item-col",
         "quantity": "--quantity-col", "price": "--price-col", "date": "--date-col",
         "name": "--name-col", "category": "--category-col"}
HELP = {"order": "the order (basket, invoice) id", "customer": "the customer id", "item": "the product id",
        "quantity": "how many (lines not positive are returns: dropped)", "price": "the unit price",
        "date": "when it was ordered", "name": "the product's name", "category": "the product's category"}


def add_column_arguments(p: argparse.ArgumentParser, uses: Iterable[str], *, aliases: Mapping[str, str] = {},
                         several_categories: bool = False, examples: Mapping[str, str] = {}) -> None:
    """The same eight column flags on every sub-command that reads orders (FLAGS); the fields
    this one does not use are accepted, said so in --help and, when given, on stderr (given_columns)."""
    uses = set(uses)
    group = p.add_argument_group("columns of the orders (guessed from the header when left out; '' for none)")
    for role, flag in FLAGS.items():
        names = [flag, *([aliases[role]] if role in aliases else [])]
        several = role == "category" and several_categories
        text = HELP[role] + (f", e.g. {examples[role]}" if role in examples else "")
        group.add_argument(*names, dest=f"{role}_col", default=None, metavar="COL", nargs="+" if several else None,
                           help=text + ("" if role in uses else "; not used by this command")
                           + ("; several give each its own validation (first = main)" if several else ""))
    p.set_defaults(columns_used=tuple(sorted(uses)))


def given_columns(args) -> dict[str, str | None]:
    """{field: the column its flag named, '' for none, None when left out}, saying on stderr which
    flags this command does not use."""
    import sys

    given = {role: getattr(args, f"{role}_col", None) for role in FLAGS}
    unused = [FLAGS[r] for r, v in given.items() if v is not None and r not in getattr(args, "columns_used", FLAGS)]
    if unused:
        print(f"note: {', '.join(unused)} not used by this command; ignored.", file=sys.stderr)
    return given


def add_sql_arguments(p: argparse.ArgumentParser) -> None:
    """--orders-sql, --orders-query, --orders-table: the orders from a database instead of --orders."""
    sql = p.add_argument_group("orders from a database (instead of --orders)")
    sql.add_argument("--orders-sql", metavar="URL", default=None,
                     help="SQLAlchemy URL, e.g. postgresql://shop@db:5432/sales or sqlite:///shop.db; the "
                          f"password from ${SQL_PASSWORD_ENV} (or $PGPASSWORD), or @FILE for a file holding the URL. "
                          "Read-only: Vitrine never writes there")
    sql.add_argument("--orders-query", metavar="SQL", default=None, help='the order lines, e.g. "SELECT * FROM order_lines"')
    sql.add_argument("--orders-table", metavar="NAME", default=None, help="or a whole table (schema.table allowed)")


def source(args, path: Path | None) -> TableSource:
    """Where this run's orders come from: the database when --orders-sql is given, else `path`."""
    url, query, table = (getattr(args, f"orders_{x}", None) for x in ("sql", "query", "table"))
    if url is None:
        if query is not None or table is not None:
            raise InputError("--orders-query and --orders-table read from a database: give its URL with --orders-sql URL.")
        if path is None:
            raise InputError("Give the orders: --orders FILE, or --orders-sql URL with --orders-query or --orders-table.")
        return TableSource(path=Path(path))
    if (query is None) == (table is None):
        raise InputError("With --orders-sql, give one of --orders-query \"SELECT ...\" or --orders-table NAME.")
    return TableSource(url=url, query=query, table=table)


def resolve(src: TableSource, given: Mapping[str, str | list[str] | None], needed: Iterable[str] = ()) -> OrderColumns:
    """The column of each field: as given by its flag, else guessed from the source's columns;
    InputError naming the flag when a needed one is neither given nor guessable. Several
    --category-col give several categories (the first is the main one)."""
    columns = src.columns()
    guessed = guess(columns, ORDERS)
    out: dict[str, str | None] = {}
    for role in FLAGS:
        value = given.get(role)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        out[role] = None if value == "" else (value or guessed[role])
    for role in needed:
        if not out[role]:
            raise InputError(f"No column of {src.name} looks like {ORDERS.field(role).label}; name it "
                             f"with {FLAGS[role]} (its columns: {', '.join(columns)}).")
    several = given.get("category")
    if isinstance(several, (list, tuple)) and len(several) > 1:
        return OrderColumns.of({**out, "category": None, "categories": [c for c in several if c]})
    return OrderColumns.of(out)


def described(columns: OrderColumns | Mapping[str, str | None]) -> str:
    """"order InvoiceNo, item StockCode, ..." for a run's first line (the orders' columns, or any
    table's {field: column})."""
    several = isinstance(columns, OrderColumns) and len(columns.categories) > 1
    mapping = columns.mapping() if isinstance(columns, OrderColumns) else columns
    return ", ".join(f"{role} {column}" for role, column in mapping.items() if column) + (
        f" (and {', '.join(columns.categories[1:])})" if several else "")
