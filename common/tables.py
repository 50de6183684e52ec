"""Reading a table a user gives (orders, baskets, ratings, titles, catalogues): one way for all.

A path or the bytes of an upload, plain or gzip; gzip is inflated chunk by chunk and refused past
settings.MAX_TABLE_BYTES (a small file that inflates to gigabytes never fills memory). The encoding: UTF-8 (with or without a BOM) when
the bytes are UTF-8, UTF-16 when they start with its BOM, else what charset-normalizer finds, else Windows-1252 (the widely shared
Online Retail CSV), else Latin-1 (which never fails). The delimiter: comma, semicolon, tab or bar,
sniffed from the first lines. What was chosen is kept in `table.attrs["read"]` for manifests. A
file that is not text, not found or not a CSV gets one InputError that says so.
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from common.errors import InputError, require_columns

Source = Union[str, Path, bytes]
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
SNIFF_BYTES = 65536  # a NUL byte in the first 64 KiB means binary, not text; delimiters are sniffed here
DETECT_BYTES = 1 << 20  # charset-normalizer looks at the first MiB (it is slow on whole files)
DELIMITERS = ",;\t|"
GZIP_MAGIC = b"\x1f\x8b"
INFLATE_CHUNK = 1 << 20  # gzip is inflated this many bytes at a time, each counted against the limit
LIMIT_ENV = "VITRINE_MAX_TABLE_BYTES"


def source_name(source: Source, name: str | None = None) -> str:
    if name:
        return name
    return str(source) if isinstance(source, (str, Path)) else "the upload"


def table_limit() -> int:
    """The most bytes a table may hold once inflated: settings.MAX_TABLE_BYTES ($VITRINE_MAX_TABLE_BYTES)."""
    import settings  # read when used, so a test or a caller may lower it

    return int(settings.MAX_TABLE_BYTES)


def shown_size(n: int) -> str:
    """Bytes for people: 2.0 GB, 10 MB, 512 KB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if unit == "GB" else f"{n / scale:.0f} {unit}"
    return f"{n} bytes"


def too_large(name: str, how: str, limit: int) -> InputError:
    """The one-line error for a table past the limit; `how` is e.g. "inflates past" or "is 3.1 GB, past"."""
    return InputError(f"{name} {how} {shown_size(limit)} (the limit, {LIMIT_ENV}); give a smaller file (fewer rows, "
                      f"e.g. one period's orders) or raise {LIMIT_ENV} where the machine has the memory "
                      "(reading takes about ten times the table's size).")


def read_bytes(source: Source, name: str | None = None, what: str = "Input", limit: int | None = None) -> bytes:
    """The file's bytes, gzip undone; InputError for a missing file, a damaged gzip, or more than
    `limit` bytes (default table_limit()) once inflated: gzip is inflated and counted chunk by
    chunk, so a gzip bomb stops at the limit instead of filling memory."""
    name = source_name(source, name)
    limit = table_limit() if limit is None else int(limit)
    if isinstance(source, (bytes, bytearray)):
        if bytes(source[:2]) == GZIP_MAGIC:
            return _gunzip(io.BytesIO(source), name, limit)
        if len(source) > limit:
            raise too_large(name, f"is {shown_size(len(source))}, past", limit)
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{what} file {path} not found.")
    with open(path, "rb") as f:
        if f.read(2) == GZIP_MAGIC:
            f.seek(0)
            return _gunzip(f, name, limit)
        size = path.stat().st_size
        if size > limit:
            raise too_large(name, f"is {shown_size(size)}, past", limit)
        f.seek(0)
        return f.read()


def _gunzip(raw, name: str, limit: int) -> bytes:
    """Inflate a gzip stream (every member) INFLATE_CHUNK bytes at a time; InputError past `limit`."""
    out = io.BytesIO()
    inflated = 0
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            while chunk := stream.read(INFLATE_CHUNK):
                inflated += len(chunk)
                if inflated > limit:
                    raise too_large(name, "inflates past", limit)
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{name} is a damaged gzip file: {exc}") from exc
    return out.getvalue()


def text_encoding(data: bytes, name: str = "the file") -> str:
    """The encoding to read `data` with (see the module docstring); InputError for binary data."""
    head = data[:SNIFF_BYTES]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its BOM: Excel's "Unicode text" export
        try:
            data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name} starts as UTF-16 text but is cut short or damaged ({exc.reason}); "
                             "export it again.") from exc
        return "utf-16"
    if b"\x00" in head:
        shown = " ".join(f"{b:02x}" for b in head[:8])
        raise InputError(f"{name} is not a text CSV file (it starts with bytes {shown}); give a .csv or .csv.gz.")
    try:
        data.decode("utf-8")
        return "utf-8-sig"  # strips a BOM when there is one
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # only files that are not UTF-8 pay for the import

    results = from_bytes(data[:DETECT_BYTES])
    best = results.best()
    # On short Western text the detector often ranks cp1250 or cp1257 first with no more "chaos"
    # than cp1252; a shop's export is far more often cp1252, so among equally clean readings it wins.
    clean = {e for m in results if best is not None and m.chaos <= best.chaos + 0.01
             for e in (m.encoding, *m.could_be_from_charset)}
    candidates = (["cp1252"] if "cp1252" in clean else []) + ([best.encoding] if best is not None else [])
    candidates += list(FALLBACK_ENCODINGS)
    for encoding in candidates:
        try:
            data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        return encoding
    raise AssertionError("latin-1 decodes any bytes")


def delimiter(text_head: str) -> str:
    """The field delimiter of a CSV from its first lines: comma unless another one clearly is."""
    lines = [line for line in text_head.splitlines()[:50] if line.strip()]
    if len(lines) > 1 and text_head.count("\n") > len(lines) - 1:
        lines = lines[:-1]  # the last line of a cut sample may be cut too
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def csv_columns(source: Source, name: str | None = None, what: str = "Input") -> list[str]:
    """The header of a CSV (its first line, read as every reader reads it), names stripped."""
    name = source_name(source, name)
    data = read_bytes(source, name, what)
    head = data[:SNIFF_BYTES].decode(text_encoding(data, name), errors="ignore")
    first = next(csv.reader(io.StringIO(head.split("\n", 1)[0]), delimiter=delimiter(head)), [])
    return [c.strip() for c in first]


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
    options.setdefault("sep", delimiter(data[:SNIFF_BYTES].decode(encoding, errors="ignore")))
    required = list(dict.fromkeys(required))
    try:
        table = pd.read_csv(io.BytesIO(data), encoding=encoding, **options)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{what} file {name} is empty; expected a header and rows.") from exc
    except ValueError as exc:  # ParserError, or usecols naming a column the file lacks
        if required and "usecols" in str(exc).lower():
            header = pd.read_csv(io.BytesIO(data), encoding=encoding, sep=options["sep"], nrows=0).columns
            _check_columns(header, required, what, name, hint)
        raise InputError(f"Cannot read {what.lower()} file {name} as CSV: {_first_line(exc)}") from exc
    _check_columns(table.columns, required, what, name, hint)
    table.attrs["read"] = {"encoding": encoding, "delimiter": options["sep"]}
    return table


def _check_columns(columns, required: list[str], what: str, name: str, hint: str) -> None:
    require_columns(columns, required, f"{what} file {name}", hint, shown=len(columns))
