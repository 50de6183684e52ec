"""Reading shopping baskets from the two common shapes of file.

- wide: one basket per line, items separated by commas, padded with empty fields, no header
  (Market Basket Optimisation, Groceries);
- long: one row per order line, with an order column and an item column (Online Retail,
  Superstore, any CSV), optionally a quantity column whose non-positive rows (returns,
  cancellations) are dropped.

Either way the result is a `Baskets`: a sparse baskets x items 0/1 matrix (CSR) and the item
names of its columns, sorted. Whitespace around items is stripped, an item listed twice in a
basket counts once, and baskets left empty are dropped.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.errors import InputError
from common.shop_tables import OrderColumns
from common.tables import SNIFF_BYTES, Source, delimiter, read_bytes, source_name, text_encoding
from recommend.core.interactions import binary_matrix

FORMATS = ("wide", "long")


@dataclass
class Baskets:
    """Baskets as a sparse 0/1 matrix: row = basket, column = item (names in `items`)."""

    matrix: sp.csr_matrix  # bool, baskets x items
    items: np.ndarray  # item names (str, object array), the column order, sorted
    info: dict = field(default_factory=dict)  # how it was read and what was dropped

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    def item_counts(self) -> np.ndarray:
        """How many baskets hold each item, in column order."""
        return np.bincount(self.matrix.indices, minlength=self.n_items).astype(np.int64)

    def as_lists(self) -> list[list[str]]:
        """The baskets as lists of item names (for libraries that want transactions)."""
        m, items = self.matrix, self.items
        return [items[m.indices[m.indptr[r]:m.indptr[r + 1]]].tolist() for r in range(self.n_baskets)]


def from_codes(basket_codes: np.ndarray, item_codes: np.ndarray, items: np.ndarray,
               info: dict | None = None, n_rows: int | None = None) -> Baskets:
    """Baskets from parallel arrays (basket number, item number) of every order line.

    Repeated (basket, item) pairs count once; baskets without an item are dropped."""
    basket_codes = np.asarray(basket_codes, dtype=np.int64)
    item_codes = np.asarray(item_codes, dtype=np.int64)
    if n_rows is None:
        n_rows = int(basket_codes.max()) + 1 if basket_codes.size else 0
    has_items = np.bincount(basket_codes, minlength=n_rows) > 0
    renumbered = np.cumsum(has_items) - 1  # baskets left empty are dropped: the others close up
    matrix = binary_matrix(renumbered[basket_codes], item_codes, (int(has_items.sum()), len(items)), dtype=bool)
    duplicates = int(basket_codes.size - matrix.nnz)
    empty = int(n_rows - has_items.sum())
    out = dict(info or {})
    out.update(baskets=int(matrix.shape[0]), items=int(len(items)), item_occurrences=int(matrix.nnz),
               duplicates_dropped=duplicates, empty_baskets_dropped=empty + out.get("empty_baskets_dropped", 0))
    return Baskets(matrix, np.asarray(items, dtype=object), out)


ENCODE_BLOCK = 200_000  # rows encoded at a time: bounded memory for files of millions of baskets


def _codes_of(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(code per value, stripped names) with -1 for blanks; Arrow strings (fast) where all are str."""
    try:
        series = pd.Series(values, dtype="string[pyarrow]").str.strip()
        series = series.mask(series == "")
    except (TypeError, ValueError, ImportError):  # not all str (numbers, None): the general path
        series = pd.Series([None if v is None or str(v).strip() == "" else str(v).strip() for v in values],
                           dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _encode(rows: Iterable[Iterable[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(basket numbers, item numbers, sorted item names, rows read) of rows of item names.

    Works through the rows a block at a time, so a large file never holds all its strings twice."""
    names: dict[str, int] = {}
    basket_parts, item_parts = [], []
    n_rows = 0
    rows = iter(rows)
    while True:
        block = [r if isinstance(r, (list, tuple)) else list(r) for r in islice(rows, ENCODE_BLOCK)]
        if not block:
            break
        lengths = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
        codes, uniques = _codes_of(list(chain.from_iterable(block)))
        to_global = np.fromiter((names.setdefault(u, len(names)) for u in uniques), dtype=np.int64,
                                count=len(uniques))
        owners = np.repeat(np.arange(n_rows, n_rows + len(block), dtype=np.int64), lengths)
        present = codes >= 0
        basket_parts.append(owners[present])
        item_parts.append(to_global[codes[present]])
        n_rows += len(block)
    all_names = np.empty(len(names), dtype=object)
    all_names[:] = list(names)
    order = np.argsort(all_names, kind="stable")
    rank = np.empty(len(all_names), dtype=np.int64)
    rank[order] = np.arange(len(all_names))
    items = np.concatenate(item_parts) if item_parts else np.empty(0, dtype=np.int64)
    baskets = np.concatenate(basket_parts) if basket_parts else np.empty(0, dtype=np.int64)
    return baskets, rank[items], all_names[order], n_rows


def baskets_from_lists(baskets: Iterable[Iterable[str]], info: dict | None = None) -> Baskets:
    """Baskets from lists of item names (whitespace stripped, blanks ignored)."""
    basket_codes, item_codes, items, n_rows = _encode(baskets)
    return from_codes(basket_codes, item_codes, items, info, n_rows)


def read_text(source: Source, name: str | None = None) -> str:
    """The file as text (gzip undone, decoded as every reader decodes: common.tables); binary refused."""
    return _read_text(source, name)[0]


def _read_text(source: Source, name: str | None = None) -> tuple[str, str]:
    """(text, encoding) of the file."""
    name = source_name(source, name)
    data = read_bytes(source, name, "Basket")
    encoding = text_encoding(data, name)
    text = data.decode(encoding)
    if not text.strip():
        raise InputError(f"{name} is empty; expected baskets, one per line, or order lines with a header.")
    return text, encoding


def _looks_like_a_table(rows: list[list[str]]) -> bool:
    """A header row over same-width rows with a numeric column: a long file, not baskets.

    `rows` is the start of the file; a wide basket file has no header, its first basket's items
    come back in later baskets, and its rows are ragged or padded with empty fields."""
    if len(rows) < 3:
        return False
    width = len(rows[0])
    if width < 2 or any(len(r) != width for r in rows):
        return False
    header = [h.strip() for h in rows[0]]
    if not all(header) or any(_is_number(h) for h in header):
        return False
    body_values = {x.strip() for x in chain.from_iterable(rows[1:])}
    if any(h in body_values for h in header):
        return False
    return any(all(_is_number(r[c]) for r in rows[1:]) for c in range(width))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_wide(source: Source, name: str | None = None) -> Baskets:
    """One basket per line, items comma-separated (ragged or padded with empty fields), no header."""
    name = source_name(source, name)
    text, encoding = _read_text(source, name)
    sep = delimiter(text[:SNIFF_BYTES])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        head = list(islice(reader, 1000))
        if _looks_like_a_table([r for r in head if r]):
            header = next(r for r in head if r)
            raise InputError(
                f"{name} looks like a table with a header ({', '.join(header[:6])}"
                f"{', ...' if len(header) > 6 else ''}), not one basket per line; read it as long and "
                f"name its order and item columns (e.g. --format long --basket-col {header[0]!r} "
                f"--item-col {header[1]!r}).")
        basket_codes, item_codes, items, lines = _encode(chain(head, reader))
    except csv.Error as exc:
        raise InputError(f"{name} is not a valid CSV file: {exc}") from exc
    baskets = from_codes(basket_codes, item_codes, items, {"name": name, "format": "wide", "rows": lines,
                                                                  "encoding": encoding, "delimiter": sep}, lines)
    if baskets.n_baskets == 0:
        raise InputError(f"{name} holds no items; expected one basket per line, items separated by commas.")
    return baskets


def read_long(source: Source, columns: OrderColumns, name: str | None = None) -> Baskets:
    """One row per order line; the basket is the `columns.order` value, the item the
    `columns.item` value (a product's id or its name: whichever the rules should show).

    With `columns.quantity`, rows whose quantity is not a positive number (returns,
    cancellations) are dropped. Rows with an empty basket or item are dropped."""
    name = source_name(source, name)
    basket_col, item_col, quantity_col = columns.order, columns.item, columns.quantity
    if not basket_col or not item_col:
        raise InputError("A long file needs the order column and the item column named "
                         "(--order-col and --item-col).")
    if basket_col == item_col:
        raise InputError(f"The order column and the item column are both {basket_col!r}; name two different columns.")
    # Parsed from the bytes (pandas decodes as it goes): no second copy of a large file as text.
    data = read_bytes(source, name, "Basket")
    encoding = text_encoding(data, name)
    if not data or data.isspace():
        raise InputError(f"{name} is empty; expected baskets, one per line, or order lines with a header.")
    head = data[:SNIFF_BYTES].decode(encoding, errors="ignore")
    sep = delimiter(head)
    first_line = head.split("\n", 1)[0]
    try:
        raw_header = next(csv.reader(io.StringIO(first_line, newline=""), delimiter=sep), [])
    except csv.Error as exc:
        raise InputError(f"{name} has a header line that is not CSV ({exc}).") from exc
    header = [c.strip() for c in raw_header]
    needed = [basket_col, item_col] + ([quantity_col] if quantity_col else [])
    missing = [c for c in needed if c not in header]
    if missing:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        hint = (" It may be a wide file (one basket per line, no header): read it as wide."
                if len(header) < 3 or not any(c in header for c in needed) else "")
        raise InputError(f"{name} lacks column(s) {', '.join(map(repr, missing))}; expected a header with the "
                         f"order column and the item column, found: {shown}.{hint}")
    try:
        # ids as text; the quantity parsed by the C reader (a column with text in it stays text)
        text_cols = {c: str for c in raw_header if c.strip() in needed and c.strip() != quantity_col}
        table = pd.read_csv(io.BytesIO(data), encoding=encoding, sep=sep, dtype=text_cols, keep_default_na=False,
                            usecols=lambda c: c.strip() in needed)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"Cannot read {name} as CSV: {str(exc).splitlines()[0]}") from exc
    table.columns = [c.strip() for c in table.columns]
    info = {"name": name, "format": "long", "encoding": encoding, "delimiter": sep}
    return long_baskets(table, columns, info)


def long_baskets(table: pd.DataFrame, columns: OrderColumns, info: dict | None = None) -> Baskets:
    """Baskets from order lines already read (a CSV's, or a database's as text): see read_long."""
    basket_col, item_col, quantity_col = columns.order, columns.item, columns.quantity
    info = dict(info or {})
    name = info.setdefault("name", "the orders")
    rows = len(table)
    keep = np.ones(rows, dtype=bool)
    if quantity_col:
        quantity = pd.to_numeric(table[quantity_col], errors="coerce")
        if rows and quantity.isna().all():
            raise InputError(f"Column {quantity_col!r} of {name} holds no numbers; name a quantity column or none.")
        keep &= (quantity > 0).to_numpy()
    basket = table[basket_col].astype(str).str.strip()
    item = table[item_col].astype(str).str.strip()
    keep &= (basket != "").to_numpy() & (item != "").to_numpy()
    basket, item = basket[keep], item[keep]
    basket_codes, _ = pd.factorize(basket, sort=False)
    item_codes, items = pd.factorize(item, sort=True)
    info.update({"format": "long", "basket_col": basket_col, "item_col": item_col, "quantity_col": quantity_col,
                 "rows": rows, "rows_dropped": int(rows - keep.sum())})
    baskets = from_codes(basket_codes, item_codes, np.asarray(items, dtype=object), info)
    if baskets.n_baskets == 0:
        raise InputError(f"{name} has no order line left with an order, an item"
                         f"{' and a positive quantity' if quantity_col else ''}.")
    return baskets


def read_baskets(source: Source, fmt: str | None = None, columns: OrderColumns | None = None,
                 name: str | None = None) -> Baskets:
    """Read a wide or long basket file; the format defaults to long when columns are named (the
    order, item and quantity of `columns`)."""
    named = columns is not None and any((columns.order, columns.item, columns.quantity))
    if fmt is None:
        fmt = "long" if named else "wide"
    if fmt not in FORMATS:
        raise InputError(f"Unknown basket file format {fmt!r}; use wide or long.")
    if fmt == "wide":
        if named:
            raise InputError("Column names only apply to long files; use --format long, or drop the column flags.")
        return read_wide(source, name)
    return read_long(source, columns or OrderColumns(), name)


def guess_format(source: Source, name: str | None = None) -> str:
    """"long" when the file starts like a table with a header, else "wide" (for choosers' defaults)."""
    text = read_text(source, name)
    lines = text.split("\n", 1000)[:1000]
    try:
        head = [row for row in csv.reader(lines, delimiter=delimiter(text[:SNIFF_BYTES])) if row]
    except csv.Error:
        return "wide"
    return "long" if _looks_like_a_table(head) else "wide"
