"""Where a product's picture is: a workspace catalogue's image column (a file under the folder the
workspace's pictures were given in, or an http(s) URL the visitor's browser loads; Vitrine itself
never fetches it to show it), or a visual index's own files; by product id or by name."""
from __future__ import annotations

from pathlib import Path

from common.pathguard import inside
from recommend.workspace.model import CATALOGUE_FILE, ORDERS_FILE, Workspace, is_url


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


NONE = Pictures({}, {})


def of_workspace(ws: Workspace | None) -> Pictures:
    """The pictures of a workspace's catalogue (none for a demo set, or a workspace without pictures)."""
    if ws is None or not ws.manifest.get("pictures"):
        return NONE
    catalogue = ws.table(CATALOGUE_FILE)
    if catalogue is None or "image" not in catalogue:
        return NONE
    orders = ws.table(ORDERS_FILE)
    id_of_name = {}
    if "name" in catalogue:  # orders without names took the catalogue's
        id_of_name = {name: item for item, name in zip(catalogue["id"], catalogue["name"]) if name}
    if orders is not None and "name" in orders:
        counts = orders.groupby(["name", "item"]).size().sort_values(ascending=False, kind="stable")
        id_of_name.update({name: item for name, item in counts.index[::-1]})  # the most ordered id wins
    return Pictures(dict(zip(catalogue["id"], catalogue["image"])), id_of_name, ws.manifest.get("images_root"))


def in_index(index, product_id: str) -> str | None:
    """A visual index's picture of a product: its URL, else its file when that lies under the
    index's images folder (older indexes: their own folder)."""
    row = index.items.iloc[index.position(product_id)]
    url = row.get("url")
    if isinstance(url, str) and url:  # the visitor's browser loads it; the app never fetches it
        return url
    manifest = index.manifest
    path = Path(manifest.get("images_dir", "")) / str(row["file"])
    root = manifest.get("images_root") or manifest.get("images_dir")
    return str(path) if root and inside(path, root) and path.is_file() else None
