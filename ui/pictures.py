"""A data set's product pictures on a page (shop/pictures.py finds them), cached per workspace build."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from recommend.workspace.model import Workspace, open_workspace
from shop import pictures as shop_pictures
from shop.pictures import Pictures
from shop.registry import DataSet

__all__ = ["Pictures", "of", "row"]


@st.cache_resource(show_spinner=False, max_entries=4)
def _pictures(folder: str, created: str, root: str | None) -> Pictures:
    """Cached per workspace build (`created`) and pictures folder (`root`)."""
    return shop_pictures.of_workspace(open_workspace(Path(folder).name, Path(folder).parent))


def of(chosen: DataSet | Workspace | None) -> Pictures:
    """The pictures of a data set's workspace (none for a demo set or a workspace without pictures)."""
    workspace = chosen.workspace if isinstance(chosen, DataSet) else chosen
    if not isinstance(workspace, Workspace) or not workspace.manifest.get("pictures"):
        return shop_pictures.NONE
    return _pictures(str(workspace.folder), workspace.manifest["created"], workspace.manifest.get("images_root"))


def row(items: list[tuple[str | None, str]], width: int = 120) -> None:
    """Pictures side by side, each with its caption; a product without one shows its caption only."""
    cells = st.columns(max(len(items), 1), gap="small")
    for cell, (picture, caption) in zip(cells, items):
        if picture is not None:
            cell.image(picture, width=width)
        cell.caption(caption)
