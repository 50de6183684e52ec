"""Lists a person downloads to open in a spreadsheet: CSV whose text cells cannot run as formulas.

A product or customer name that starts with "=", "+", "-", "@", a tab or a carriage return is
read by Excel, LibreOffice and Google Sheets as a formula (CSV injection: "=HYPERLINK(...)" in a
product name). Such text cells get a leading apostrophe, which spreadsheets show as text and
do not print; numbers (negative ones included) are never touched. Artifacts are written raw:
this is only for downloads.
"""
from __future__ import annotations

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
