"""Every list a page shows can be downloaded as CSV, JSON or Parquet, made only when clicked."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from common.exports import FORMATS, table_file


def offer(label: str, table: pd.DataFrame | Callable[[], pd.DataFrame], stem: str, key: str) -> None:
    """A caption and one button per format; `table` may be a function, run only on a click."""
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(f"Download {label}:", width="content")
    for fmt, (ext, mime) in FORMATS.items():
        row.download_button(fmt, lambda fmt=fmt: table_file(table() if callable(table) else table, fmt),
                            file_name=f"{stem}.{ext}", mime=mime, key=f"{key}_{ext}", on_click="ignore",
                            icon=":material/download:")
