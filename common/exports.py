"""Lists a person downloads to open in a spreadsheet: CSV whose text cells cannot run as formulas.

A product or customer name that starts with "=", "+", "-", "@", a tab or a carriage return is
read by Excel, LibreOffice and Google Sheets as a formula (CSV injection: "=HYPERLINK(...)" in a
product name). Such text cells get a leading apostrophe, which spreadsheets show as text and
do not print; numbers (negative ones included) are never touched. Artifacts are written raw:
this is only for downloads.
"""
from __future__ import annotations

import io

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells that a spreadsheet would run as a formula start with "'"."""
    out = table.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        text = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
        if text.any():
            out[column] = values.where(~text, "'" + values.astype(str))
    return out


def csv_download(table: pd.DataFrame) -> str:
    """The table as CSV text for a download button, safe to open in a spreadsheet."""
    return spreadsheet_safe(table).to_csv(index=False)


# How each download format is named and served.
FORMATS = {"CSV": ("csv", "text/csv"), "JSON": ("json", "application/json"),
           "Parquet": ("parquet", "application/vnd.apache.parquet")}


def table_file(table: pd.DataFrame, fmt: str) -> bytes:
    """The table as a file to download: CSV (spreadsheet-safe, UTF-8 with a BOM so Excel reads
    accents), JSON (a list of records) or Parquet (types kept)."""
    if fmt == "CSV":
        return csv_download(table).encode("utf-8-sig")
    if fmt == "JSON":
        return table.to_json(orient="records", force_ascii=False, indent=1, date_format="iso").encode("utf-8")
    if fmt == "Parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        return buffer.getvalue()
    raise ValueError(f"Unknown download format {fmt!r}; use one of {', '.join(FORMATS)}.")
