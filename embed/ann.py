"""The approximate nearest-neighbour index of a large catalogue (faiss), and how search uses it.

Chosen by `bench/ann_candidates.py` (faiss HNSW / IVF-PQ with PCA, hnswlib, usearch; see the
README's table): the vectors are projected by PCA to `settings.ANN_PCA_DIMS` dims, stored as int8
scalar-quantised codes (SQ8) and linked in an HNSW graph (M = `settings.ANN_HNSW_M`); a query
walks the graph for the `settings.ANN_RERANK` nearest candidates, which are then re-scored
exactly against the float32 vectors on disk. Only the codes and the graph are in memory (about
650 bytes a product: 0.63 GiB at a million, against 8.2 GB for the float32 vectors); the
candidates' rows are read with `os.pread`, so they never pile up in the process's resident
memory as a memory map's pages would. Full-dimension HNSW was as accurate and faster but needs
8 KB a product in memory; the compressed indexes alone (PCA, SQ8, PQ) lose too much recall
without the exact re-ranking.

Filters are applied before ranking: a selective one (at most `settings.ANN_SCAN_MAX` products
pass) scans the codes of just those products, any other walks the graph with the filter and a
wider search, and if that still finds fewer than k the codes are scanned; so k results come
back whenever k products pass. faiss is imported only here, and only when an approximate index
is built or opened.
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
ADD_BATCH = 65_536  # rows projected and added at a time: bounded memory while building
EF_SEARCH_MAX = 1024  # the widest graph search a filter may ask for


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
    """The approximate index's settings for `count` vectors of `dims`, as the manifest records them."""
    pca = max(1, min(settings.ANN_PCA_DIMS, dims, count))
    return {"library": "faiss", "factory": f"PCA{pca},HNSW{settings.ANN_HNSW_M},SQ8", "pca_dims": pca,
            "hnsw_m": settings.ANN_HNSW_M, "ef_construction": settings.ANN_EF_CONSTRUCTION,
            "ef_search": settings.ANN_EF_SEARCH, "rerank": settings.ANN_RERANK,
            "scan_max": settings.ANN_SCAN_MAX, "train_rows": min(count, settings.ANN_TRAIN_ROWS)}


def vector_storage(kind: str, count: int, dims: int) -> dict:
    """How the index keeps its vectors (the manifest's `vector_storage`), apart from the model's arithmetic."""
    storage = {"index_type": kind, "vectors": f"float32, {dims} dims, embeddings.npy on disk"}
    if kind == "approximate":
        p = parameters(count, dims)
        storage["approximate"] = {
            **p, "file": FILE,
            "in_memory": f"PCA to {p['pca_dims']} dims, int8 scalar quantisation (SQ8), HNSW graph M={p['hnsw_m']}",
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
    faiss.downcast_index(index.index).hnsw.efConstruction = p["ef_construction"]
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
        self._hnsw = faiss.downcast_index(pre.index)
        self._codes = faiss.downcast_index(self._hnsw.storage)
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
        """What the index keeps in memory: its codes and graph (as serialised)."""
        return int(self._faiss.serialize_index(self._index).size)

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
        wanted = max(self.params["rerank"], k)
        ef = self.params["ef_search"]
        if keep is None:
            _, found = self._hnsw.search(x, wanted, params=faiss.SearchParametersHNSW(efSearch=ef))
        else:
            passing = int(keep.sum())
            if passing == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            bitmap = np.packbits(keep, bitorder="little")  # kept alive while faiss reads it
            selector = faiss.IDSelectorBitmap(bitmap)
            found = None
            if passing > self.params["scan_max"]:
                wide = min(EF_SEARCH_MAX, max(ef, math.ceil(ef * self.count / passing)))
                _, found = self._hnsw.search(x, wanted, params=faiss.SearchParametersHNSW(sel=selector, efSearch=wide))
                if (found[0] >= 0).sum() < min(k, passing):
                    found = None  # the graph, cut by the filter, did not reach enough: scan instead
            if found is None:
                _, found = self._codes.search(x, wanted, params=faiss.SearchParameters(sel=selector))
        positions = np.sort(found[0][found[0] >= 0])
        scores = self.rows(positions) @ np.asarray(query, dtype=np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return positions[best], scores[best]
