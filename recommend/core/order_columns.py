"""The columns of a shop's orders file on the command line: named by the same flags in every
sub-command (--order-col, --customer-col, --item-col, --quantity-col, --name-col,
--category-col, --price-col, --date-col), guessed from the header when left out, by the one
mapping the app uses too (common/shop_tables.py). An empty flag ("--name-col ''") means none.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from common.errors import InputError
from common.shop_tables import ORDERS, guess
from common.tables import csv_columns

FLAGS = {"order": "--order-col", "customer": "--customer-col", "item": "--item-col",
         "quantity": "--quantity-col", "price": "--price-col", "date": "--date-col",
         "name": "--name-col", "category": "--category-col"}


def resolve(path: Path, given: Mapping[str, str | None], needed: Iterable[str] = ()) -> dict[str, str | None]:
    """The column of each field: as given by its flag, else guessed from the file's header;
    InputError naming the flag when a needed one is neither given nor guessable."""
    columns = csv_columns(Path(path), what="Orders")
    guessed = guess(columns, ORDERS)
    out: dict[str, str | None] = {}
    for role in FLAGS:
        value = given.get(role)
        out[role] = None if value == "" else (value or guessed[role])
    for role in needed:
        if not out[role]:
            raise InputError(f"No column of {Path(path).name} looks like {ORDERS.field(role).label}; name it "
                             f"with {FLAGS[role]} (its columns: {', '.join(columns)}).")
    return out


def described(columns: Mapping[str, str | None]) -> str:
    """"order InvoiceNo, item StockCode, ..." for a run's first line and its manifest."""
    return ", ".join(f"{role} {column}" for role, column in columns.items() if column)
