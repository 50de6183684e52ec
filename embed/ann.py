"""The approximate nearest-neighbour index of a large catalogue (faiss), and how search uses it.

Chosen by `bench/decisions/ann_candidates.py` and `bench/visual_index_scale.py` (faiss HNSW and IVF-PQ with
PCA, hnswlib, usearch; see docs/visual-search.md's table): the vectors are projected by PCA to
`settings.ANN_PCA_DIMS` dims, split among 4 sqrt(N) inverted lists (IVF) and stored as product-
quantised codes of `settings.ANN_PQ_M` bytes (PQ); a query visits the `settings.ANN_NPROBE`
nearest lists for the `settings.ANN_RERANK` best candidates, which are then re-scored exactly
against the float32 vectors on disk. In memory: the codes, their ids and per-list distance tables
(about 0.35 GiB at a million products, against 8.2 GB for the float32 vectors); the candidates'
rows are read with `os.pread`, so they never pile up in the process's resident memory as a memory
map's pages would. At a million products it reached the same recall as PCA + HNSW over int8 codes
(0.999 on vectors like the fashion catalogue's; 0.98 on generic clusters at 100,000, against
0.96-0.99) in a half to a quarter of the build time (133-144 s against 251-518 s on 2 cores) and
about half the memory, at ~1.4 ms a raw query instead of ~1.0; full-dimension HNSW was as accurate but needs 8 KB a product in memory;
no index alone, without the exact re-ranking, came near the recall target.

Filters are applied before ranking, through faiss's ID selector: a filter passing a share s of
the products visits nprobe / s lists (as many passing products as an unfiltered search sees) up
to 8 nprobe, and if that still finds fewer than k, every list; so k results come back whenever
k products pass. faiss is imported only here, and only when an approximate index is built or opened.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

import settings
from common.errors import InputError

INDEX_TYPES = ("auto", "exact", "approximate")
FILE = "approximate.faiss"
ADD_BATCH = 4096  # rows added at a time: IVF-PQ encodes through batch x lists-probed tables
# A filter widens the search to nprobe / share lists, but to no more than this many times nprobe:
# at a million products (bench data, 50 queries) a filter passing 2% gave recall@5 0.968 at 4x,
# 0.976 at 8x (3.2 ms) and 0.976 with no cap (17 ms); one passing 0.5%: 0.968, 0.984 (2.9 ms), and
# 0.992 at 32 ms when every list is visited. Each list visited costs its distance table.
FILTER_MAX_WIDENING = 8


def check_index_type(index_type: str) -> str:
    if index_type not in INDEX_TYPES:
        raise InputError(f"--index-type must be one of {', '.join(INDEX_TYPES)}, not {index_type!r}.")
    return index_type


def resolve(index_type: str, count: int) -> str:
    """"exact" or "approximate": `auto` is approximate from settings.APPROXIMATE_INDEX_FROM products."""
    if check_index_type(index_type) == "auto":
        return "approximate" if count >= settings.APPROXIMATE_INDEX_FROM else "exact"
    return index_type


def parameters(count: int, dims: int) -> dict:
    """The approximate index's settings for `count` vectors of `dims`, as the manifest records them
    (a small catalogue, forced approximate, gets fewer lists, sub-quantisers and code bits)."""
    pca = max(1, min(settings.ANN_PCA_DIMS, dims, count))
    nlist = max(1, min(int(4 * math.sqrt(count)), count // 39))  # faiss wants 39 training points a list
    pq_m = max(m for m in range(1, min(settings.ANN_PQ_M, pca) + 1) if pca % m == 0)
    pq_bits = max(1, min(8, int(math.log2(max(count, 2)))))  # 2^bits centroids need as many training points
    return {"library": "faiss", "factory": f"PCA{pca},IVF{nlist},PQ{pq_m}x{pq_bits}", "pca_dims": pca,
            "lists": nlist, "pq_bytes": pq_m * pq_bits / 8, "nprobe": min(settings.ANN_NPROBE, nlist),
            "rerank": settings.ANN_RERANK, "train_rows": min(count, settings.ANN_TRAIN_ROWS)}


def vector_storage(kind: str, count: int, dims: int) -> dict:
    """How the index keeps its vectors (the manifest's `vector_storage`), apart from the model's arithmetic."""
    storage = {"index_type": kind, "vectors": f"float32, {dims} dims, embeddings.npy on disk"}
    if kind == "approximate":
        p = parameters(count, dims)
        storage["approximate"] = {
            **p, "file": FILE,
            "in_memory": f"PCA to {p['pca_dims']} dims, {p['lists']:,} inverted lists, product-quantised codes "
                         f"of {p['pq_bytes']:g} bytes a product",
            "exact_rerank": f"top {p['rerank']} re-scored from the float32 vectors on disk (pread)",
        }
    return storage


def build(vectors: np.ndarray, path: Path, *, progress: bool = True, seed: int = 0) -> dict:
    """Train and fill the approximate index over `vectors` (N, d) float32 unit rows (a memmap is
    read in batches) and write it to `path`; its parameters."""
    import faiss

    n, d = vectors.shape
    p = parameters(n, d)
    index = faiss.index_factory(d, p["factory"], faiss.METRIC_L2)  # L2 after PCA, which centres the vectors
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))  # IndexIVFPQ
    ivf.cp.min_points_per_centroid = 1  # a sample of ANN_TRAIN_ROWS is enough: measured, and no warning
    ivf.cp.niter = 10
    ivf.pq.cp.niter = 10
    ivf.pq.cp.min_points_per_centroid = 1
    ivf.do_polysemous_training = False
    sample = np.sort(np.random.default_rng(seed).choice(n, p["train_rows"], replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    with tqdm(total=n, desc="Approximate index", unit="vec", disable=not progress, leave=False) as bar:
        for start in range(0, n, ADD_BATCH):
            index.add(np.ascontiguousarray(vectors[start:start + ADD_BATCH], dtype=np.float32))
            bar.update(min(ADD_BATCH, n - start))
    faiss.write_index(index, str(path))
    return p


class Approximate:
    """An opened approximate index beside its float32 vectors file; safe to search from many threads."""

    def __init__(self, path: Path, vectors_file: Path, count: int, dims: int, params: dict):
        import faiss

        self._faiss = faiss
        index = faiss.read_index(str(path))
        if index.ntotal != count or index.d != dims:
            raise ValueError(f"{path} holds {index.ntotal} vectors of {index.d} dims, the index {count} of {dims}.")
        self._index = index
        pre = faiss.downcast_index(index)
        self._chain = [faiss.downcast_VectorTransform(pre.chain.at(i)) for i in range(pre.chain.size())]
        self._ivf = faiss.extract_index_ivf(index)
        self.count, self.dims, self.params = count, dims, params
        self._fd = os.open(vectors_file, os.O_RDONLY)
        mapped = np.load(vectors_file, mmap_mode="r", allow_pickle=False)
        self._offset = int(mapped.offset)  # rows start after the .npy header
        del mapped
        self._row_bytes = 4 * dims

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def memory_bytes(self) -> int:
        """What the index keeps in memory: the serialised index (codes, ids, lists, PCA) and the
        distance tables faiss precomputes for IVF-PQ when it loads it."""
        ivf = self._faiss.downcast_index(self._ivf)
        tables = ivf.precomputed_table.size() * 4 if hasattr(ivf, "precomputed_table") else 0
        return int(self._faiss.serialize_index(self._index).size) + int(tables)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The float32 vectors at `positions`, read from disk with pread (no memory map)."""
        out = np.empty((len(positions), self.dims), dtype=np.float32)
        view = memoryview(out).cast("B")
        for i, pos in enumerate(np.asarray(positions, dtype=np.int64)):
            chunk = os.pread(self._fd, self._row_bytes, self._offset + int(pos) * self._row_bytes)
            view[i * self._row_bytes:(i + 1) * self._row_bytes] = chunk
        return out

    def search(self, query: np.ndarray, k: int, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, exact cosine scores) of the k best products that `keep` (boolean, one per
        product; None = all) lets through, best first."""
        faiss = self._faiss
        x = np.ascontiguousarray(query[None], dtype=np.float32)
        for transform in self._chain:
            x = transform.apply(x)
        wanted, nprobe, lists = max(self.params["rerank"], k), self.params["nprobe"], self.params["lists"]
        if keep is None:
            _, found = self._ivf.search(x, wanted, params=faiss.SearchParametersIVF(nprobe=nprobe))
        else:
            passing = int(keep.sum())
            if passing == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            bitmap = np.packbits(keep, bitorder="little")  # kept alive while faiss reads it
            selector = faiss.IDSelectorBitmap(bitmap)
            wide = min(lists, math.ceil(nprobe * self.count / passing), FILTER_MAX_WIDENING * nprobe)
            _, found = self._ivf.search(x, wanted, params=faiss.SearchParametersIVF(nprobe=wide, sel=selector))
            if (found[0] >= 0).sum() < min(k, passing) and wide < lists:  # every list: all that pass
                _, found = self._ivf.search(x, wanted, params=faiss.SearchParametersIVF(nprobe=lists, sel=selector))
        positions = np.sort(found[0][found[0] >= 0])
        scores = self.rows(positions) @ np.asarray(query, dtype=np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return positions[best], scores[best]
