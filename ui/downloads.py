"""Every list a page shows can be downloaded as CSV, JSON or Parquet, made only when clicked; each
export is recorded in the audit log (ui/access.py) with who asked and from which data set."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from common.exports import FORMATS, table_file
from ui import access


def _exported(table, fmt: str, file_name: str, who: access.Access, dataset: str | None) -> bytes:
    """The file, made on the click (the download runs outside the page's script: `who` is the
    access captured when the button was drawn)."""
    data = table_file(table() if callable(table) else table, fmt)
    access.audit("export", dataset=dataset, who=who, file=file_name, bytes=len(data))
    return data


def offer(label: str, table: pd.DataFrame | Callable[[], pd.DataFrame], stem: str, key: str) -> None:
    """A caption and one button per format; `table` may be a function, run only on a click."""
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(f"Download {label}:", width="content")
    who, dataset = access.current(), st.query_params.get("dataset")
    for fmt, (ext, mime) in FORMATS.items():
        row.download_button(fmt, lambda fmt=fmt, ext=ext: _exported(table, fmt, f"{stem}.{ext}", who, dataset),
                            file_name=f"{stem}.{ext}", mime=mime, key=f"{key}_{ext}", on_click="ignore",
                            icon=":material/download:")
