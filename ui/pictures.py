"""A workspace's product pictures, from its catalogue's image column (a file under the folder the
workspace's pictures were given in, or an http(s) URL the visitor's browser loads; the app itself
never fetches a URL), by product id or name."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from common.pathguard import inside
from recommend.workspace.model import CATALOGUE_FILE, ORDERS_FILE, Workspace, is_url, open_workspace


class Pictures:
    def __init__(self, by_id: dict[str, str], id_of_name: dict[str, str], root: str | None = None):
        self.by_id, self.id_of_name, self.root = by_id, id_of_name, root

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def of(self, product: str) -> str | None:
        picture = self.by_id.get(str(product), "")
        if picture and is_url(picture):
            return picture
        local = picture and self.root is not None and inside(picture, self.root) and Path(picture).is_file()
        return picture if local else None  # st.image would serve any file it is given

    def of_name(self, name: str) -> str | None:
        """The picture of the product most often ordered under this name (basket rules are by name)."""
        product = self.id_of_name.get(name)
        return self.of(product) if product is not None else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _pictures(folder: str, created: str, root: str | None) -> Pictures:
    ws = open_workspace(Path(folder).name, Path(folder).parent)
    catalogue = ws.table(CATALOGUE_FILE)
    if catalogue is None or "image" not in catalogue:
        return Pictures({}, {})
    orders = ws.table(ORDERS_FILE)
    id_of_name = {}
    if "name" in catalogue:  # orders without names took the catalogue's
        id_of_name = {name: item for item, name in zip(catalogue["id"], catalogue["name"]) if name}
    if orders is not None and "name" in orders:
        counts = orders.groupby(["name", "item"]).size().sort_values(ascending=False, kind="stable")
        id_of_name.update({name: item for name, item in counts.index[::-1]})  # the most ordered id wins
    return Pictures(dict(zip(catalogue["id"], catalogue["image"])), id_of_name, root)


def of(workspace) -> Pictures:
    """The pictures of a workspace (empty for a demo set or a workspace without pictures)."""
    if not isinstance(workspace, Workspace) or not workspace.manifest.get("pictures"):
        return Pictures({}, {})
    return _pictures(str(workspace.folder), workspace.manifest["created"], workspace.manifest.get("images_root"))


def row(items: list[tuple[str | None, str]], width: int = 120) -> None:
    """Pictures side by side, each with its caption; a product without one shows its caption only."""
    cells = st.columns(max(len(items), 1), gap="small")
    for cell, (picture, caption) in zip(cells, items):
        if picture is not None:
            cell.image(picture, width=width)
        cell.caption(caption)
