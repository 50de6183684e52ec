"""The catalogue to embed: image files under a folder (file name = product id), optionally
restricted to and described by a metadata CSV with an `id` column (e.g. styles.csv); or a CSV
whose `image` column gives each product's picture as a file path (relative to the images folder,
else to the CSV's own folder, and inside it or `--images-root`) or an http(s) URL (fetched by
`embed.fetch`)."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.errors import InputError
from common.pathguard import escaping, resolved
from common.tables import read_csv
from embed.fetch import is_url

IMAGE_COLUMN = "image"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}


class CatalogueError(InputError):
    """The images folder or the catalogue CSV cannot be used; the message says why."""


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    file: str = ""  # relative to the images folder (or absolute); "" when the picture is a URL
    sha256: str = ""  # of the picture's bytes; "" until a URL's picture is fetched
    url: str = ""
    etag: str = ""  # what the server said of the URL's picture, for a conditional re-fetch
    last_modified: str = ""

    @property
    def source(self) -> str:
        return self.url or self.file

    @property
    def key(self) -> tuple[str, str]:
        """What identifies this picture before it is read: a file by its content, a URL by itself."""
        return (self.id, self.url) if self.url else (self.id, self.sha256)


def _sort_key(item_id: str):
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


def read_catalogue(path: Path, id_col: str = "id") -> pd.DataFrame:
    """Read a metadata CSV keyed by `id_col` (kept as text), one row per product."""
    table = read_csv(path, what="Catalogue", required=[id_col], dtype={id_col: str},
                     hint=f"The catalogue needs an {id_col!r} column matching the image file names.")
    table[id_col] = table[id_col].str.strip()
    dupes = table[id_col][table[id_col].duplicated()].unique()
    if len(dupes):
        raise CatalogueError(f"Catalogue {path} repeats ids, e.g. {', '.join(dupes[:5])}.")
    return table.rename(columns={id_col: "id"})


def scan_images(images_dir: Path, ids: set[str] | None = None, limit: int | None = None) -> list[CatalogueItem]:
    """Image files under `images_dir` (not recursive), sorted by id, optionally only `ids`."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise CatalogueError(f"Images folder {images_dir} not found.")
    items: dict[str, CatalogueItem] = {}
    for entry in images_dir.iterdir():
        if entry.suffix.lower() not in IMAGE_SUFFIXES or not entry.is_file():
            continue
        if ids is not None and entry.stem not in ids:
            continue
        if entry.stem in items:
            raise CatalogueError(f"Two images for product {entry.stem}: {items[entry.stem].file} and {entry.name}.")
        items[entry.stem] = CatalogueItem(entry.stem, entry.name)
    ordered = sorted(items.values(), key=lambda it: _sort_key(it.id))
    return ordered[:limit] if limit is not None else ordered


def from_image_column(meta: pd.DataFrame) -> list[CatalogueItem]:
    """One item per catalogue row with a non-empty `image`: a URL, or a file path as given
    (the job reads it relative to its images folder unless absolute). Sorted by id."""
    items = []
    for pid, image in zip(meta["id"], meta[IMAGE_COLUMN].fillna("").astype(str).str.strip()):
        if not image:
            continue
        if is_url(image) or "://" in image:  # another scheme is refused by the fetcher, with its reason
            items.append(CatalogueItem(pid, url=image))
        else:
            items.append(CatalogueItem(pid, image))
    return sorted(items, key=lambda it: _sort_key(it.id))


def outside(images_dir: Path, root: Path, items: list[CatalogueItem]) -> dict[str, str]:
    """The picture files (symlinks followed, `..` removed) that are not under `root`, by product id,
    with the reason: a catalogue names data, and its paths must not reach the rest of the disk."""
    files = [it for it in items if not it.url]
    where = resolved(root) or root
    return {it.id: f"{it.file} is outside the images folder {where}: give --images-root DIR to allow pictures "
                   "under a wider folder" for it, out in zip(files, escaping(images_dir, [it.file for it in files], root))
            if out}


def _sha256(path: Path) -> str:
    """The file's digest; "" when it cannot be read (its decode then says why)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def with_digests(images_dir: Path, items: list[CatalogueItem], workers: int = 4,
                 progress: bool = True, skip: frozenset[str] = frozenset()) -> list[CatalogueItem]:
    """Attach each file's sha256, so a changed picture under the same id is embedded again (URLs
    are hashed when fetched; the ids in `skip`, files never to be read, keep "")."""
    images_dir = Path(images_dir)
    files = [it for it in items if not it.url and it.id not in skip]
    with ThreadPoolExecutor(workers) as pool:
        digests = iter(list(tqdm(pool.map(lambda it: _sha256(images_dir / it.file), files),
                                 total=len(files), desc="Hashing", unit="img", disable=not progress,
                                 leave=False)))
    return [it if it.url or it.id in skip else replace(it, sha256=next(digests)) for it in items]


def input_digest(items: list[CatalogueItem]) -> str:
    """One digest of the whole catalogue: ids and file contents, in order."""
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.id}\t{it.sha256}\n".encode())
    return h.hexdigest()
