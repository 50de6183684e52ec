"""A shop's own tables, one model for every page and job: orders (one row per order line),
a catalogue (one row per product) and ratings (user, item, rating).

Reading: CSV (any common delimiter and encoding, plain or gzip: common.tables), Excel (.xlsx)
and Parquet, told apart by their first bytes, never by the name a user gave. Each is refused
before it is parsed when it would inflate past settings.MAX_TABLE_BYTES (a workbook's zip members
as declared, a Parquet file's uncompressed size from its metadata) or is a zip bomb. Every column is
read as text, so ids keep their leading zeros; `apply` converts what should be numbers or dates.

Column mapping: `guess` picks a column for each field from its name (the hints below, exact
names first, then names holding a hint); a user may change every guess. `problems` lists what
would make a build wrong, one line each naming the column, a count and an example row: nothing
is built from bad input. `apply` returns the table with the fields' names and types.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from common.errors import InputError
from common.tables import Source, read_bytes, read_csv, shown_size, source_name, table_limit, too_large


@dataclass(frozen=True)
class Field:
    role: str  # the column's name after `apply`
    label: str  # for people: "the product id"
    kind: str  # "id", "number", "date" or "text"
    required: bool
    hints: tuple[str, ...]  # column names that mean this field, most telling first


@dataclass(frozen=True)
class Schema:
    name: str  # "orders", "catalogue", "ratings"
    fields: tuple[Field, ...]

    def field(self, role: str) -> Field:
        return next(f for f in self.fields if f.role == role)


ORDERS = Schema("orders", (
    Field("order", "the order id", "id", True,
          ("invoiceno", "invoice", "orderid", "order", "basket", "transaction", "receipt", "ticket")),
    Field("customer", "the customer id", "id", False, ("customerid", "customer", "client", "userid", "user")),
    Field("item", "the product id", "id", True,
          ("stockcode", "productid", "sku", "itemid", "articleid", "product", "item", "article")),
    Field("quantity", "the quantity", "number", False, ("quantity", "qty", "units")),
    Field("price", "the unit price", "number", False, ("unitprice", "price", "sales", "amount")),
    Field("date", "the order date", "date", False,
          ("invoicedate", "orderdate", "date", "time", "timestamp", "orderedat", "created", "purchased")),
    Field("name", "the product name", "text", False,
          ("description", "productname", "itemname", "name", "title", "text", "label")),
    Field("category", "the product category", "text", False,
          ("subcategory", "category", "department", "articletype", "type")),
))

@dataclass(frozen=True)
class OrderColumns:
    """Which column of an orders table holds each field of ORDERS (None: it has none): the one
    column mapping every reader of orders takes (basket rules, similar products, similar
    customers, a workspace's build, the evaluation), whether the columns came from the command
    line's flags, the app's pickers, a demo set or a workspace's mapped names. `categories` may
    name several columns (the first is the main one); `category` is that first one."""

    order: str | None = None
    item: str | None = None
    customer: str | None = None
    quantity: str | None = None
    price: str | None = None
    date: str | None = None
    name: str | None = None
    categories: tuple[str, ...] = ()

    @property
    def category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @classmethod
    def of(cls, mapping: Mapping[str, str | None]) -> "OrderColumns":
        """From {field: column} (guess's and a workspace's mapping; '' or None for none)."""
        unknown = set(mapping) - {f.role for f in ORDERS.fields} - {"categories"}
        if unknown:
            raise InputError(f"Orders have no field {', '.join(sorted(unknown))}; the fields are "
                             f"{', '.join(f.role for f in ORDERS.fields)}.")
        given = {role: column or None for role, column in mapping.items() if role not in ("category", "categories")}
        categories = mapping.get("categories") or ([mapping["category"]] if mapping.get("category") else [])
        return cls(**given, categories=tuple(c for c in categories if c))

    @classmethod
    def mapped(cls, columns: Sequence[str]) -> "OrderColumns":
        """The fields of a table `apply` wrote (its columns are the fields' names)."""
        has = set(columns)
        return cls.of({f.role: f.role for f in ORDERS.fields if f.role in has})

    def mapping(self) -> dict[str, str | None]:
        """{field: column} for every field of ORDERS (category: the first of `categories`)."""
        return {f.role: getattr(self, f.role) for f in ORDERS.fields}

    def needed(self, *roles: str) -> list[str]:
        """The columns of these fields (all when none is named), in that order, without repeats;
        "category" or "categories" gives every category column."""
        roles = roles or tuple(f.role for f in ORDERS.fields)
        out: list[str] = []
        for role in roles:
            out += list(self.categories) if role in ("category", "categories") else [getattr(self, role)]
        return list(dict.fromkeys(c for c in out if c))


CATALOGUE = Schema("catalogue", (
    Field("id", "the product id", "id", True,
          ("id", "productid", "stockcode", "sku", "itemid", "movieid", "product", "item")),
    Field("name", "the product name", "text", False,
          ("productdisplayname", "productname", "name", "title", "description")),
    Field("category", "the product category", "text", False,
          ("mastercategory", "subcategory", "category", "articletype", "department", "genres", "genre")),
    Field("image", "the image (a file or an http(s) URL)", "text", False,
          ("image", "imageurl", "picture", "photo", "url", "link")),
))
RATINGS = Schema("ratings", (
    Field("user", "the user id", "id", True, ("userid", "user", "customerid", "customer", "reviewer")),
    Field("item", "the item id", "id", True, ("movieid", "itemid", "productid", "item", "movie", "product")),
    Field("rating", "the rating", "number", True, ("rating", "score", "stars")),
    Field("time", "the rating time", "date", False, ("timestamp", "time", "date")),
))

ZIP_MAGIC, PARQUET_MAGIC = b"PK\x03\x04", b"PAR1"  # an .xlsx (a zip) and a Parquet file start so
# A workbook part inflating more than this many times its compressed size is a zip bomb (Apache
# POI's rule: a ratio of 100, for parts past 100 KB; real sheets' XML compresses 5 to 30 times).
MAX_ZIP_RATIO = 100
ZIP_RATIO_FROM_BYTES = 100_000


def read_table(source: Source, *, name: str | None = None, what: str = "Orders") -> pd.DataFrame:
    """A user's table (CSV, CSV.gz, .xlsx or Parquet) with every column as text (blank = "")."""
    name = source_name(source, name)
    limit = table_limit()
    data = read_bytes(source, name, what, limit)
    try:
        if data.startswith(ZIP_MAGIC):
            check_workbook(data, name, limit)
            table = pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False, engine="openpyxl")
            table.attrs["read"] = {"format": "xlsx", "sheet": "the first"}
        elif data.startswith(PARQUET_MAGIC):
            check_parquet(data, name, limit)
            table = pd.read_parquet(io.BytesIO(data))
            table = table.apply(as_text)
            table.attrs["read"] = {"format": "parquet"}
        else:
            table = read_csv(data, name=name, what=what, dtype=str, keep_default_na=False)
            table.attrs["read"] = {"format": "csv", **table.attrs.get("read", {})}
    except InputError:
        raise
    except Exception as exc:  # a damaged workbook or Parquet file: say which and why, in one line
        raise InputError(f"Cannot read {what.lower()} file {name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}."
                         ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table


def check_workbook(data: bytes, name: str, limit: int) -> None:
    """InputError, before openpyxl inflates anything, for a workbook whose parts declare more than
    `limit` bytes in all or one part inflating past MAX_ZIP_RATIO. The declared sizes bound what
    is inflated: Python's zipfile (openpyxl's) stops a part at its declared size, and a part that
    lies about it fails its CRC check."""
    import zipfile

    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        return  # not a zip after all: openpyxl says what is wrong with it
    declared = 0
    for part in parts:
        declared += part.file_size
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > ZIP_RATIO_FROM_BYTES and ratio > MAX_ZIP_RATIO:
            raise InputError(f"{name} is refused as a zip bomb: its part {part.filename} inflates {ratio:,.0f} times "
                             f"(to {shown_size(part.file_size)}), past the {MAX_ZIP_RATIO} times a workbook's parts "
                             "compress; save the sheet again from Excel, or export it as CSV.")
        if declared > limit:
            raise too_large(name, "inflates past", limit)


PARQUET_CELL_BYTES = 8  # what a cell costs at least once read as text (as a CSV cell and its delimiter would)


def check_parquet(data: bytes, name: str, limit: int) -> None:
    """InputError, before any column is read, for a Parquet file that holds more than `limit`
    bytes uncompressed (as its metadata says) or more cells than `limit` / PARQUET_CELL_BYTES
    (a dictionary-encoded column of one repeated value is tiny on disk, not once read)."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    uncompressed = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if max(uncompressed, metadata.num_rows * metadata.num_columns * PARQUET_CELL_BYTES) > limit:
        raise too_large(name, "inflates past", limit)


def as_text(column: pd.Series) -> pd.Series:
    """A typed column as text the way a CSV would hold it: 17850.0 ids as "17850", missing as ""."""
    if pd.api.types.is_float_dtype(column) and column.dropna().eq(column.dropna().round()).all():
        column = column.astype("Int64")
    return column.astype("string").fillna("").astype(object)


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def guess(columns: Sequence[str], schema: Schema) -> dict[str, str | None]:
    """For each field, the column whose name says it is that field (None if none does); each
    column is used once. Exact names (case, spaces, "_" and "-" ignored) win over names that
    merely hold a hint (of four letters or more: "id" is not looked for inside "width"), and
    earlier fields choose first."""
    normal = {c: _normal(c) for c in columns}
    chosen: dict[str, str | None] = {}
    used: set[str] = set()
    for exact in (True, False):
        for field in schema.fields:
            if chosen.get(field.role):
                continue
            chosen[field.role] = None
            for hint in field.hints:
                if not exact and len(hint) < 4:
                    continue
                hit = next((c for c in columns if c not in used and
                            (normal[c] == hint if exact else hint in normal[c])), None)
                if hit is not None:
                    chosen[field.role] = hit
                    used.add(hit)
                    break
    return {f.role: chosen.get(f.role) for f in schema.fields}


def problems(table: pd.DataFrame, schema: Schema, mapping: Mapping[str, str | None],
             name: str = "the file") -> list[str]:
    """Everything that would make a build from this table wrong, one line each; empty if none."""
    return _checked(table, schema, mapping, name)[0]


def _checked(table: pd.DataFrame, schema: Schema, mapping: Mapping[str, str | None],
             name: str) -> tuple[list[str], dict[str, pd.Series]]:
    """(problems, each mapped field's values: stripped text, or parsed numbers and dates with
    blanks missing): one pass that `problems` and `apply` share."""
    found = mapping_problems(list(table.columns), schema, mapping, name)
    if found:
        return found, {}
    if table.empty:
        return [no_rows(name, schema)], {}
    values: dict[str, pd.Series] = {}
    for field in schema.fields:
        column = mapping.get(field.role)
        if column is None:
            continue
        text = table[column].astype(str).str.strip()
        values[field.role] = text
        blank = text.eq("") | text.str.lower().isin(BLANKS)
        if field.kind == "id" and blank.all():
            found.append(all_blank(column, field, len(table)))
        elif field.kind in ("number", "date"):
            parsed = _parse(text[~blank], field.kind)
            values[field.role] = parsed.reindex(table.index)  # blanks stay missing (NaN, NaT)
            bad = parsed.isna()
            if bad.any():
                first = bad.idxmax()
                found.append(unparsed(column, field, int(bad.sum()), text[first], table.index.get_loc(first) + 1))
    return found, values


def no_rows(name: str, schema: Schema) -> str:
    return f"{name} has a header but no rows; {schema.name} need at least one row."


def unparsed(column: str, field: Field, count: int, example: str, row: int | None = None) -> str:
    """The problem line for a number or date column with `count` values that are not one."""
    what = "numbers" if field.kind == "number" else "dates"
    where = f" in row {row:,}" if row is not None else ""
    return f"Column {column!r} ({field.label}) has {count:,} value(s) that are not {what}, e.g. {example!r}{where}."


def all_blank(column: str, field: Field, rows: int) -> str:
    return f"Column {column!r} ({field.label}) is blank in all {rows:,} rows."


def mapping_problems(columns: Sequence[str], schema: Schema, mapping: Mapping[str, str | None],
                     name: str = "the file") -> list[str]:
    """What is wrong with the mapping itself (a required field without a column, a column not
    in the table, one column for two fields), before any value is looked at."""
    found = []
    columns = list(columns)
    for field in schema.fields:
        column = mapping.get(field.role)
        if column is None:
            if field.required:
                found.append(f"No column is chosen for {field.label}; pick one of {', '.join(columns)}.")
        elif column not in columns:
            found.append(f"Column {column!r} ({field.label}) is not in {name}; found {', '.join(columns)}.")
    chosen = [c for c in mapping.values() if c is not None]
    if len(chosen) != len(set(chosen)):
        twice = next(c for c in chosen if chosen.count(c) > 1)
        found.append(f"Column {twice!r} is chosen for two fields; each field needs its own column.")
    return found


BLANKS = ("nan", "none", "null")  # besides "": what a cell holds when a value is missing (any case)


def _parse(text: pd.Series, kind: str) -> pd.Series:
    if kind == "number":
        return parse_numbers(text)
    return parse_dates(text, unix=bool(len(text)) and pd.to_numeric(text, errors="coerce").notna().all())


def parse_numbers(text: pd.Series) -> pd.Series:
    """Stripped, non-blank text as numbers (NaN where it is none); a decimal comma ("2,5") read too.
    Value by value, so Spark applies it batch by batch (common/shop_tables_spark.py)."""
    numbers = pd.to_numeric(text, errors="coerce")
    comma = numbers.isna() & text.str.fullmatch(r"-?\d+,\d+")  # a decimal comma: "2,5"
    if comma.any():
        numbers[comma] = pd.to_numeric(text[comma].str.replace(",", ".", regex=False))
    return numbers


def parse_dates(text: pd.Series, unix: bool) -> pd.Series:
    """Stripped, non-blank text as dates (NaT where it is none): Unix seconds when the whole column
    is numbers (MovieLens' timestamps: `unix`, decided over the column), else any common format."""
    if unix:
        return pd.to_datetime(pd.to_numeric(text, errors="coerce"), unit="s", errors="coerce")
    return pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=False)


def apply(table: pd.DataFrame, schema: Schema, mapping: Mapping[str, str | None],
          name: str = "the file") -> pd.DataFrame:
    """The table with one column per mapped field, named by its role and typed (ids and text as
    stripped strings, numbers as floats, dates as datetimes); InputError with the first problem
    (all of them in `.problems`) when `problems` finds any."""
    found, values = _checked(table, schema, mapping, name)
    if found:
        error = InputError(found[0])
        error.problems = found
        raise error
    out = pd.DataFrame(values, index=table.index)
    out.attrs["mapping"] = {role: mapping.get(role) for role in (f.role for f in schema.fields)}
    out.attrs["read"] = dict(table.attrs.get("read", {}))
    return out.reset_index(drop=True)
