"""Reading a table a user gives (orders, baskets, ratings, titles, catalogues): one way for all.

A path or the bytes of an upload, plain or gzip; decoded as UTF-8 (with or without a BOM), else
Windows-1252 (the widely shared Online Retail CSV), else Latin-1 (which never fails); a file that
is not text, not found or not a CSV gets one InputError that says so.
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from common.errors import InputError

Source = Union[str, Path, bytes]
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
SNIFF_BYTES = 65536  # a NUL byte in the first 64 KiB means binary, not text


def source_name(source: Source, name: str | None = None) -> str:
    if name:
        return name
    return str(source) if isinstance(source, (str, Path)) else "the upload"


def read_bytes(source: Source, name: str | None = None, what: str = "Input") -> bytes:
    """The file's bytes, gzip undone; InputError for a missing file or a damaged gzip."""
    name = source_name(source, name)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{what} file {path} not found.")
        data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"{name} is a damaged gzip file: {exc}") from exc
    return data


def text_encoding(data: bytes, name: str = "the file") -> str:
    """The first of ENCODINGS that decodes `data`; InputError for binary data."""
    if b"\x00" in data[:SNIFF_BYTES]:
        raise InputError(f"{name} is not a text CSV file (it holds binary data); give a .csv or .csv.gz.")
    for encoding in ENCODINGS:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise AssertionError("latin-1 decodes any bytes")


def decode(data: bytes, name: str = "the file") -> str:
    return data.decode(text_encoding(data, name))


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def read_csv(source: Source, *, name: str | None = None, what: str = "Input", required: Iterable[str] = (),
             hint: str = "", **options) -> pd.DataFrame:
    """A user's CSV as a DataFrame (pandas options pass through); `required` columns must be there,
    else one InputError names the missing ones, the ones found, and `hint` (how to name others)."""
    name = source_name(source, name)
    data = read_bytes(source, name, what)
    encoding = text_encoding(data, name)
    required = list(dict.fromkeys(required))
    try:
        table = pd.read_csv(io.BytesIO(data), encoding=encoding, **options)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{what} file {name} is empty; expected a header and rows.") from exc
    except ValueError as exc:  # ParserError, or usecols naming a column the file lacks
        if required and "usecols" in str(exc).lower():
            header = pd.read_csv(io.BytesIO(data), encoding=encoding, nrows=0).columns
            _check_columns(header, required, what, name, hint)
        raise InputError(f"Cannot read {what.lower()} file {name} as CSV: {_first_line(exc)}") from exc
    _check_columns(table.columns, required, what, name, hint)
    return table


def _check_columns(columns, required: list[str], what: str, name: str, hint: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(f"{what} file {name} lacks column(s) {', '.join(missing)}; found "
                         f"{', '.join(map(str, columns))}.{' ' + hint if hint else ''}")
