"""The catalogue to embed: image files under a folder (file name = product id), optionally
restricted to and described by a metadata CSV with an `id` column (e.g. styles.csv)."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.errors import InputError
from common.tables import read_csv

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}


class CatalogError(InputError):
    """The images folder or the catalogue CSV cannot be used; the message says why."""


@dataclass(frozen=True)
class CatalogItem:
    id: str
    file: str  # relative to the images folder
    sha256: str = ""


def _sort_key(item_id: str):
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


def read_catalog(path: Path, id_col: str = "id") -> pd.DataFrame:
    """Read a metadata CSV keyed by `id_col` (kept as text), one row per product."""
    table = read_csv(path, what="Catalogue", required=[id_col], dtype={id_col: str},
                     hint=f"The catalogue needs an {id_col!r} column matching the image file names.")
    table[id_col] = table[id_col].str.strip()
    dupes = table[id_col][table[id_col].duplicated()].unique()
    if len(dupes):
        raise CatalogError(f"Catalogue {path} repeats ids, e.g. {', '.join(dupes[:5])}.")
    return table.rename(columns={id_col: "id"})


def scan_images(images_dir: Path, ids: set[str] | None = None, limit: int | None = None) -> list[CatalogItem]:
    """Image files under `images_dir` (not recursive), sorted by id, optionally only `ids`."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise CatalogError(f"Images folder {images_dir} not found.")
    items: dict[str, CatalogItem] = {}
    for entry in images_dir.iterdir():
        if entry.suffix.lower() not in IMAGE_SUFFIXES or not entry.is_file():
            continue
        if ids is not None and entry.stem not in ids:
            continue
        if entry.stem in items:
            raise CatalogError(f"Two images for product {entry.stem}: {items[entry.stem].file} and {entry.name}.")
        items[entry.stem] = CatalogItem(entry.stem, entry.name)
    ordered = sorted(items.values(), key=lambda it: _sort_key(it.id))
    return ordered[:limit] if limit is not None else ordered


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_digests(images_dir: Path, items: list[CatalogItem], workers: int = 4,
                 progress: bool = True) -> list[CatalogItem]:
    """Attach each file's sha256, so a changed picture under the same id is embedded again."""
    images_dir = Path(images_dir)
    with ThreadPoolExecutor(workers) as pool:
        digests = list(tqdm(pool.map(lambda it: _sha256(images_dir / it.file), items),
                            total=len(items), desc="Hashing", unit="img", disable=not progress,
                            leave=False))
    return [CatalogItem(it.id, it.file, d) for it, d in zip(items, digests)]


def input_digest(items: list[CatalogItem]) -> str:
    """One digest of the whole catalogue: ids and file contents, in order."""
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.id}\t{it.sha256}\n".encode())
    return h.hexdigest()
