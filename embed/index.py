"""The visual index, end to end: its folder format (write), reading it back (load), and exact
cosine search over it (search, answer).

A folder holds `embeddings.npy` (float32, one L2-normalised row per product), `items.csv` (one
row per vector, same order) and `manifest.json`; a large catalogue's also `approximate.faiss`
(`embed.ann`), which search then uses. Rows are unit length, so cosine similarity is a single
matrix-vector product: exact search needs no extra library and is instant up to about
settings.APPROXIMATE_INDEX_FROM products. The manifest's `vector_storage` says which it is.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

import settings
from common.artifacts import MANIFEST, Draft, loading, read_manifest, write_artifact
from common.errors import ArtifactError, InputError
from common.topk import check_k, top_k
from embed import ann

__all__ = [
    "FORMAT_VERSION", "KIND", "REBUILD", "VectorIndex", "answer", "filter_mask", "is_index", "load",
    "search", "write", "writing",
]

KIND = "visual_index"
FORMAT_VERSION = 1
REBUILD = "python -m embed build --out {folder}"
VECTORS_FILE = "embeddings.npy"
ITEMS_FILE = "items.csv"
FILES = {"vectors": VECTORS_FILE, "items": ITEMS_FILE}

# When at most this share of rows passes a mask, gathering just those rows and scoring them
# beats scoring every row and masking afterwards. Measured on 50k x 2048 float32, 2 CPU cores,
# in RAM and memory-mapped alike: full product 12-15 ms (BLAS, and it speeds up with more
# cores, while the gather does not); gather + product over 1% of rows 0.3 ms, 5% 3 ms,
# 10% 10 ms, 30% 30 ms. So only clearly selective masks take the subset path.
# Both paths compute each score as the same float32 dot product, but BLAS may sum a row in a
# different order depending on where it falls in the matrix: scores agree to float32 rounding
# (~1e-7) and rankings agree except between candidates tied to that precision.
SUBSET_SCORING_MAX_SHARE = 0.05


@dataclass(eq=False)
class VectorIndex:
    """Unit product vectors (N, d), their ids and catalogue rows (same order), and the manifest."""

    vectors: np.ndarray  # np.memmap when loaded from disk, float32 (N, d)
    ids: np.ndarray  # str, length N
    items: pd.DataFrame  # column "id" (str) first, then metadata; row i describes vectors[i]
    manifest: dict
    approximate: ann.Approximate | None = None  # searched instead of every vector when present
    _positions: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built once: id -> row lookups are then O(1) for every query.
        self._positions = {str(pid): i for i, pid in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, position: int) -> np.ndarray:
        """One product's stored vector (read with pread from an approximate index's file, so that
        "More like this" over a large catalogue does not grow the resident memory)."""
        if self.approximate is not None:
            return self.approximate.rows(np.array([position]))[0]
        return np.asarray(self.vectors[position], dtype=np.float32)

    def position(self, id) -> int:
        """Row of product `id` in `vectors`/`items`; InputError for an unknown id."""
        # Ids are strings on disk; accept 15970 as well as "15970" since people type numbers.
        key = id if isinstance(id, str) else str(id)
        try:
            return self._positions[key]
        except KeyError:
            raise InputError(f"unknown product id {id!r}") from None


# ---- write ---------------------------------------------------------------------------------

@contextmanager
def writing(folder: Path | str, items: pd.DataFrame, dims: int, manifest: Mapping,
            rebuild: str | None = None, *, index_type: str = "exact", approximate_from: Path | None = None,
            progress: bool = False) -> Iterator[tuple[np.memmap, Draft]]:
    """Write a visual index whose vectors are filled in place, atomically.

    Yields the (len(items), dims) float32 matrix, memory-mapped on disk so it never has to fit
    in memory, and the Draft, whose manifest may still be updated; on exit the approximate index
    is built over the vectors when `index_type` (auto, exact, approximate: `embed.ann.resolve`)
    asks for one, or copied from `approximate_from` (one built over the very same vectors), then
    the items and the manifest are written and the folder is swapped in (an error leaves the old
    one intact).
    """
    kind = ann.resolve(index_type, len(items))
    if "id" not in items.columns:
        raise ValueError(f"items needs an 'id' column; it has {list(items.columns)}.")
    items = items.assign(id=items["id"].astype(str))
    if items["id"].duplicated().any():
        raise ValueError("items has repeated ids; each vector needs its own product id.")
    items = items[["id"] + [c for c in items.columns if c != "id"]]
    files = {**FILES, "approximate": ann.FILE} if kind == "approximate" else dict(FILES)
    expected = {"kind": KIND, "format_version": FORMAT_VERSION, "count": len(items), "dims": int(dims),
                "dtype": "float32", "files": files,
                "vector_storage": ann.vector_storage(kind, len(items), int(dims))}
    for key, value in expected.items():
        if manifest.get(key, value) != value:
            raise ValueError(f"manifest says {key}={manifest[key]!r} but the data gives {value!r}.")
    with write_artifact(Path(folder), KIND, FORMAT_VERSION, {**expected, **manifest}, rebuild or REBUILD) as draft:
        matrix = np.lib.format.open_memmap(draft.path / VECTORS_FILE, mode="w+", dtype=np.float32,
                                           shape=(len(items), int(dims)))
        yield matrix, draft
        matrix.flush()  # on disk before the folder's digests are taken
        if kind == "approximate":
            if approximate_from is not None:
                shutil.copyfile(approximate_from, draft.path / ann.FILE)
            else:
                began = time.perf_counter()
                ann.build(matrix, draft.path / ann.FILE, progress=progress)
                draft.manifest["vector_storage"]["approximate"]["build_seconds"] = round(
                    time.perf_counter() - began, 2)
        items.to_csv(draft.path / ITEMS_FILE, index=False)


def build(vectors: np.ndarray, items: pd.DataFrame, manifest: Mapping | None = None) -> VectorIndex:
    """A visual index in memory from product vectors (N, d) and their catalogue rows (an `id`
    column first), as the recommenders' `build` makes a result from a table; embedding pictures
    into vectors is embed/build.py's job (`python -m embed build`)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (N, d) array, got shape {vectors.shape}.")
    if len(items) != len(vectors):
        raise ValueError(f"items has {len(items)} rows but there are {len(vectors)} vectors.")
    if "id" not in items.columns:
        raise ValueError(f"items needs an 'id' column; it has {list(items.columns)}.")
    items = items.assign(id=items["id"].astype(str)).reset_index(drop=True)
    items = items[["id"] + [c for c in items.columns if c != "id"]]
    return VectorIndex(vectors, items["id"].to_numpy(), items, dict(manifest or {}))


def write(index: VectorIndex, out: Path | str, inputs: Mapping | None = None, rebuild: str | None = None, *,
          index_type: str = "exact") -> Path:
    """Write an index as a visual index folder, atomically (a crash leaves the old one intact);
    `inputs` are added to its manifest."""
    manifest = {**index.manifest, **(inputs or {})}
    vectors = np.asarray(index.vectors, dtype=np.float32)
    with writing(out, index.items, vectors.shape[1], manifest, rebuild, index_type=index_type) as (matrix, _):
        matrix[:] = vectors
    return Path(out)


# ---- read ----------------------------------------------------------------------------------

def is_index(folder: Path | str) -> bool:
    """Whether `folder` holds a visual index, even an old or damaged one, so a build may replace it:
    its manifest says so, or it holds nothing but files named like an index's."""
    folder = Path(folder)
    try:
        return read_manifest(folder).get("kind") == KIND
    except ArtifactError:
        names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        return bool(names) and names <= {MANIFEST, *FILES.values()}


def _inconsistent(folder: Path, detail: str) -> ArtifactError:
    return ArtifactError(f"The visual index at {folder} is incomplete or inconsistent ({detail}); "
                         f"rebuild it with `{REBUILD.format(folder=folder)}`.")


def _read_items(real: Path, folder: Path) -> pd.DataFrame:
    """items.csv (of the version `real` of `folder`) with ids kept verbatim as strings and
    metadata typed as pandas infers it."""
    path = real / ITEMS_FILE
    items = pd.read_csv(path, dtype={"id": str, "file": str, "sha256": str})
    if "id" not in items.columns:
        raise _inconsistent(folder, f"{ITEMS_FILE} has no 'id' column")
    # Read ids a second time with NA detection off: an id like "NA" or "null" is a real id,
    # not a missing value. Only the one column is parsed again, which is cheap.
    items["id"] = pd.read_csv(path, usecols=["id"], dtype=str, keep_default_na=False)["id"].to_numpy()
    items = items[["id"] + [c for c in items.columns if c != "id"]]
    # Text columns are Arrow arrays in chunks as the CSV reader made them; taking the 5 result rows
    # from a chunked column costs ~0.25 ms a column (2 ms a query at 100,000 products, 9 columns),
    # from one chunk 0.02 ms. One pass through Arrow joins the chunks (same dtypes and values).
    return pa.Table.from_pandas(items, preserve_index=False).combine_chunks().to_pandas()


def load(folder: Path | str, *, with_approximate: bool = True) -> VectorIndex:
    """Open a visual index folder, memory-mapping the vectors, after checking it is whole;
    ArtifactError naming the rebuild command otherwise. `with_approximate=False` leaves its
    approximate index unread (a build only reuses vectors; search then is exact)."""
    folder = Path(folder)
    with loading(folder, KIND, FORMAT_VERSION, REBUILD) as art:
        real, manifest = art.path, art.manifest
        count, dims = manifest.get("count"), manifest.get("dims")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (count, dims)):
            raise _inconsistent(folder, f"manifest count={count!r}, dims={dims!r}")
        # mmap: the OS pages in only what a query touches, and several app workers share it.
        vectors = np.load(real / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        items = _read_items(real, folder)
    if vectors.dtype != np.float32:
        raise _inconsistent(folder, f"{VECTORS_FILE} is {vectors.dtype}, expected float32")
    if vectors.shape != (count, dims):
        raise _inconsistent(folder, f"{VECTORS_FILE} has shape {vectors.shape}, "
                                    f"manifest says ({count}, {dims})")
    if len(items) != count:
        raise _inconsistent(folder, f"{ITEMS_FILE} has {len(items)} rows, manifest says {count}")
    approximate = None
    storage = manifest.get("vector_storage") or {"index_type": "exact"}
    if storage.get("index_type") == "approximate" and with_approximate:
        try:
            approximate = ann.Approximate(real / ann.FILE, real / VECTORS_FILE, count, dims, storage["approximate"])
        except (OSError, RuntimeError, ValueError, KeyError) as exc:  # faiss raises RuntimeError on a bad file
            raise _inconsistent(folder, f"its approximate index cannot be read: {exc}") from exc
    ids = items["id"].to_numpy(dtype=str)
    if (ids == "").any():
        raise _inconsistent(folder, f"{ITEMS_FILE} has empty ids")
    duplicated = items["id"][items["id"].duplicated()]
    if len(duplicated):
        raise _inconsistent(folder, f"{ITEMS_FILE} repeats ids, e.g. {duplicated.iloc[0]!r}")
    return VectorIndex(vectors=vectors, ids=ids, items=items, manifest=manifest, approximate=approximate)


# ---- search --------------------------------------------------------------------------------

def _unit_query(query, dims: int) -> np.ndarray:
    """The query as a float32 unit vector. Queries come from the embedder or the index itself,
    so a wrong or zero vector is a bug: ValueError."""
    q = np.asarray(query, dtype=np.float64)
    if q.shape != (dims,):
        raise ValueError(f"The query must be a single vector of shape ({dims},), got shape {q.shape}.")
    if not np.isfinite(q).all():
        raise ValueError("The query vector contains NaN or infinite values.")
    norm = np.linalg.norm(q)
    if norm == 0:
        raise ValueError("The query vector is all zeros, so it has no direction to compare.")
    # Normalise in float64 then match the index's float32, so the product runs in float32 BLAS.
    return (q / norm).astype(np.float32)


def _check_mask(mask, n: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (n,):
        raise ValueError(f"mask must be a boolean array of shape ({n},), got {m.dtype} {m.shape}.")
    return m


def search(index: VectorIndex, vector: np.ndarray, k: int = 5, *,
           mask: np.ndarray | None = None, exclude_ids: Iterable[str] = ()) -> pd.DataFrame:
    """The k catalogue products most similar (cosine) to `vector`, as a table.

    `mask` (boolean, one entry per product) keeps only some products and is applied before
    ranking, so k results come back whenever k products pass it; `exclude_ids` leaves those
    ids out (ids not in the index are ignored). Columns: rank (1..), id, score, metadata.
    """
    vectors = np.asarray(index.vectors)  # a plain view of the memmap; no copy
    n, dims = vectors.shape
    k = check_k(k)
    q = _unit_query(vector, dims)
    keep = np.ones(n, dtype=bool) if mask is None else _check_mask(mask, n).copy()
    exclude_ids = [exclude_ids] if isinstance(exclude_ids, str) else exclude_ids
    for pid in exclude_ids:
        pos = index._positions.get(str(pid))
        if pos is not None:
            keep[pos] = False

    if index.approximate is not None:
        whole = mask is None and keep.all()
        positions, scores = index.approximate.search(q, k, None if whole else keep)
    elif mask is not None and keep.sum() <= SUBSET_SCORING_MAX_SHARE * n:
        # Selective filter: score only the rows that can be returned. Gathering rows of a
        # memmap reads just those rows from disk.
        rows = np.flatnonzero(keep)
        sub_scores = vectors[rows] @ q
        chosen, scores = top_k(sub_scores, k)
        positions = rows[chosen]
    else:
        positions, scores = top_k(vectors @ q, k, exclude=~keep)

    table = index.items.iloc[positions].reset_index(drop=True)
    out = pd.DataFrame({
        "rank": np.arange(1, len(positions) + 1),
        "id": table["id"],
        "score": scores.astype(np.float64),
    })
    return pd.concat([out, table.drop(columns="id")], axis=1)


def answer(index: VectorIndex, query: str, k: int | None = None, *, mask: np.ndarray | None = None,
           include_self: bool = False) -> pd.DataFrame:
    """The k (default settings.TOP_K) products most like catalogue product `query`, from its
    stored vector: rank, id, score (cosine) and the catalogue's columns.

    No image is re-embedded. The product itself is left out unless `include_self`; an unknown id
    is an InputError.
    """
    k = settings.TOP_K if k is None else k
    pos = index.position(query)
    exclude = () if include_self else (index.ids[pos],)
    return search(index, index.vector(pos), k, mask=mask, exclude_ids=exclude)


def filter_mask(items: pd.DataFrame, **equals) -> np.ndarray:
    """Boolean mask of the rows whose columns equal the given values (a list means any of).

    `filter_mask(items, gender="Women", masterCategory=["Footwear", "Accessories"])`. None or
    empty values are ignored, so a UI can pass every filter widget's value as it stands.
    """
    mask = np.ones(len(items), dtype=bool)
    for column, value in equals.items():
        if column not in items.columns:
            raise ValueError(
                f"Unknown column {column!r} to filter on; available: {', '.join(map(str, items.columns))}."
            )
        if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series, pd.Index)):
            values = [v for v in value if v is not None and not (isinstance(v, str) and v == "")]
        else:
            values = [] if value is None or (isinstance(value, str) and value == "") else [value]
        if not values:
            continue
        col = items[column]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            # e.g. year read as 2012.0: compare numbers, so "2012", 2012 and 2012.0 all match.
            wanted = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna()
            hit = col.isin(wanted.to_numpy())
        else:
            # Text columns: compare the values as given and as text, so id=15970 matches "15970".
            hit = col.isin(values) | col.isin([str(v) for v in values])
        mask &= hit.to_numpy(dtype=bool, na_value=False)
    return mask
