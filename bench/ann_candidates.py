"""Approximate nearest-neighbour candidates for visual search, each against exact search in the same run.

First step of choosing an ANN library for up to 1,000,000 products x 2048 dims on a 2-core machine.
Targets at 1M: query p50 <= 10 ms, recall@5 >= 0.95 against exact inner-product search on the same
vectors, index in memory <= 1 GB (GiB here: 1,073 bytes per product), build <= 15 minutes.

Vectors: synthetic ones shaped like the catalogue's (ReLU + global max pooling, then L2-normalised):
sparse non-negative gamma cluster centres, uneven cluster sizes, per-cluster low-rank noise plus a
little isotropic noise, clipped at 0, L2-normalised; seeded. Or real ones with --vectors (normalised
here). Queries are held-out points drawn the same way, never in the index.
Each candidate is built once per build setting (all cores) and only its search parameters are swept.
Queries go one at a time with 1 thread (faiss OpenMP, hnswlib, usearch, numpy's BLAS through
threadpoolctl), as the app serves one visitor's photo. Baseline: exact search (numpy matmul +
argpartition, as embed.index does) on the same vectors, 1 thread; each line gives the speed-up over it.
Bytes per product: the serialised index plus any re-ranking store, over n; RSS: the process's growth
during the build, over n. PCA candidates project to 384 dims (fitted here; its time is in their build)
and rank by L2 there, which orders unit vectors as inner product does; recall is always against exact
search on the full vectors. Figures at 1M are rough extrapolations (HNSW ~log n per query, n log n to
build; IVF with nlist ~ 4 sqrt(n) ~sqrt(n) per query, n^1.5 to build; exact ~n).
Usage:
    python bench/ann_candidates.py [--quick] [--sizes 100000 ...] [--candidates faiss-hnsw ...]
                                   [--vectors PATH.npy] [--queries 500] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from importlib.metadata import version
from contextlib import nullcontext
from pathlib import Path

import faiss
import hnswlib
import numpy as np
from usearch.index import Index as UsearchIndex

from machine import describe  # bench/machine.py, beside this script

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # then numpy's BLAS keeps its own thread count (said in the header line)
    threadpool_limits = None

K, RERANK, PCA_DIMS, EF_ADD, FULL = 5, 100, 384, 128, 1_000_000
TARGET_RECALL, TARGET_P50_MS, TARGET_BYTES, TARGET_BUILD_S = 0.95, 10.0, 1024 ** 3, 15 * 60
CORES = len(os.sched_getaffinity(0))


def rss() -> int:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024


def synthetic(n: int, d: int = 2048, clusters: int = 300, rank: int = 64, seed: int = 0) -> np.ndarray:
    """n unit vectors: per cluster a sparse gamma centre (30% of dims non-zero), low-rank noise
    (rank 64, decaying spectrum, norm ~0.5x the centre's) and isotropic noise (~0.2x); clipped at 0."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, clusters)
    labels = rng.choice(clusters, size=n, p=weights / weights.sum())
    spectrum = (1.0 / np.sqrt(np.arange(1, rank + 1))).astype(np.float32)
    spectrum /= np.linalg.norm(spectrum)
    x = np.empty((n, d), dtype=np.float32)
    for c in range(clusters):
        rows = np.flatnonzero(labels == c)
        centre = (rng.gamma(0.6, 1.0, d) * (rng.random(d) < 0.3)).astype(np.float32)
        size = float(np.linalg.norm(centre))
        basis = rng.standard_normal((rank, d), dtype=np.float32) / np.float32(math.sqrt(d))
        z = rng.standard_normal((len(rows), rank), dtype=np.float32) * (0.5 * size * spectrum)
        iso = rng.standard_normal((len(rows), d), dtype=np.float32) * np.float32(0.2 * size / math.sqrt(d))
        x[rows] = np.maximum(centre + z @ basis + iso, 0)
    return x


def load(args: argparse.Namespace, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(base of n rows, queries), L2-normalised float32; the queries are not in the base."""
    if args.vectors:
        data = np.load(args.vectors, mmap_mode="r")
        rows = np.random.default_rng(args.seed).permutation(len(data))[:n + args.queries]
        x = np.ascontiguousarray(data[np.sort(rows)], dtype=np.float32)
        np.random.default_rng(args.seed).shuffle(x)
    else:
        x = synthetic(n + args.queries, seed=args.seed)
    for i in range(0, len(x), 50_000):
        x[i:i + 50_000] /= np.maximum(np.linalg.norm(x[i:i + 50_000], axis=1, keepdims=True), 1e-12)
    split = len(x) - args.queries
    return x[:split], x[split:]


class Pca:
    """Top PCA_DIMS principal components of the base (fitted on up to 50,000 rows) and the base projected."""

    def __init__(self, base: np.ndarray, seed: int = 0):
        start = time.perf_counter()
        sample = base[np.sort(np.random.default_rng(seed).choice(len(base), min(len(base), 50_000), replace=False))]
        self.mean = sample.mean(axis=0)
        centred = sample - self.mean
        values, vectors = np.linalg.eigh(centred.T @ centred)
        self.kept = float(values[-PCA_DIMS:].sum() / values.sum())
        self.matrix = np.ascontiguousarray(vectors[:, ::-1][:, :PCA_DIMS], dtype=np.float32)
        self.base = np.concatenate([self(base[i:i + 20_000]) for i in range(0, len(base), 20_000)])
        self.seconds = time.perf_counter() - start

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((x - self.mean) @ self.matrix, dtype=np.float32)


def built(make) -> tuple[object, float, int]:
    """make() run with all cores: (its result, seconds, RSS growth in bytes)."""
    faiss.omp_set_num_threads(CORES)
    before, start = rss(), time.perf_counter()
    result = make()
    return result, time.perf_counter() - start, rss() - before


def file_size(write) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        write(path)
        return os.path.getsize(path)


# Each candidate yields, per build setting: (library, build label, build s, saved bytes, RSS bytes,
# scaling, [(setting label, extra bytes, prepare)]); prepare() sets the search parameters, returns q -> ids.

def faiss_hnsw(base, ctx):
    for m in (16, 32):
        def make():
            index = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = EF_ADD
            index.add(base)
            return index
        index, secs, grew = built(make)
        yield ("faiss", f"HNSW{m},Flat f32", secs, file_size(lambda p: faiss.write_index(index, p)), grew, "log",
               [(f"efSearch={ef}", 0, hnsw_params(index, ef, lambda q: q[None])) for ef in (32, 64, 128)])
        del index  # before the next build, so that only one index is alive at a time


def hnsw_params(index, ef, project):
    def prepare():
        index.hnsw.efSearch = ef
        return lambda q: index.search(project(q), K)[1][0]
    return prepare


def faiss_pca_hnsw_sq8(base, ctx):
    pca = ctx["pca"]()
    def make():
        index = faiss.IndexHNSWSQ(PCA_DIMS, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_L2)
        index.hnsw.efConstruction = EF_ADD
        index.train(pca.base)
        index.add(pca.base)
        return index
    index, secs, grew = built(make)
    yield ("faiss", f"PCA{PCA_DIMS},HNSW32,SQ8", secs + pca.seconds, file_size(lambda p: faiss.write_index(index, p)),
           grew, "log", [(f"efSearch={ef}", 0, hnsw_params(index, ef, lambda q: pca(q[None]))) for ef in (32, 64, 128, 256)])


def faiss_pca_ivfpq(base, ctx):
    pca, n = ctx["pca"](), len(base)
    nlist = int(4 * math.sqrt(n))
    stores = {"pca-f16": pca.base.astype(np.float16), "full-f16": base.astype(np.float16)}
    for m in (64, 128):
        def make():
            index = faiss.index_factory(PCA_DIMS, f"IVF{nlist},PQ{m}", faiss.METRIC_L2)
            index.train(pca.base)
            index.add(pca.base)
            return index
        index, secs, grew = built(make)
        settings = []
        for nprobe in (8, 16, 32, 64):
            settings.append((f"nprobe={nprobe}", 0, ivf_params(index, nprobe, pca)))
            settings += [(f"nprobe={nprobe} +top{RERANK} {name}", store.nbytes / n, ivf_params(index, nprobe, pca, store))
                         for name, store in stores.items()]
        yield ("faiss", f"PCA{PCA_DIMS},IVF{nlist},PQ{m}", secs + pca.seconds,
               file_size(lambda p: faiss.write_index(index, p)), grew, "sqrt", settings)
        del index, settings


def ivf_params(index, nprobe, pca, store=None):
    """IVF-PQ search; with a store, the top RERANK are re-ranked exactly from it (float16 rows, either
    PCA-projected, by L2 there, or full, by inner product)."""
    def prepare():
        index.nprobe = nprobe
        def search(q):
            qp = pca(q[None])
            ids = index.search(qp, K if store is None else RERANK)[1][0]
            if store is None:
                return ids
            ids = ids[ids >= 0]
            rows = store[ids].astype(np.float32)
            scores = rows @ q if rows.shape[1] == len(q) else -((rows - qp) ** 2).sum(axis=1)
            return ids[np.argsort(-scores)[:K]]
        return search
    return prepare


def hnswlib_hnsw(base, ctx):
    n, d = base.shape
    for m in (16, 32):
        def make():
            index = hnswlib.Index(space="ip", dim=d)
            index.init_index(max_elements=n, ef_construction=EF_ADD, M=m)
            index.add_items(base, np.arange(n), num_threads=CORES)
            return index
        index, secs, grew = built(make)
        yield ("hnswlib", f"M={m} f32", secs, file_size(index.save_index), grew, "log",
               [(f"ef={ef}", 0, hnswlib_params(index, ef)) for ef in (32, 64, 128, 256)])
        del index


def hnswlib_params(index, ef):
    def prepare():
        index.set_ef(ef)
        return lambda q: index.knn_query(q, k=K, num_threads=1)[0][0]
    return prepare


def usearch_hnsw(base, ctx):
    for dtype, space in (("f16", "full"), ("i8", "full"), ("f16", "pca")):
        pca = ctx["pca"]() if space == "pca" else None
        vectors, project = (base, lambda q: q) if pca is None else (pca.base, lambda q: pca(q[None])[0])
        def make():
            index = UsearchIndex(ndim=vectors.shape[1], metric="ip" if pca is None else "l2sq", dtype=dtype,
                                 connectivity=16, expansion_add=EF_ADD)
            index.add(np.arange(len(vectors)), vectors, threads=CORES)
            return index
        index, secs, grew = built(make)
        label = f"M=16 {dtype}" + ("" if pca is None else f" on PCA{PCA_DIMS}")
        yield ("usearch", label, secs + (pca.seconds if pca else 0), index.serialized_length, grew, "log",
               [(f"ef={ef}", 0, usearch_params(index, ef, project)) for ef in (32, 64, 128, 256)])
        del index


def usearch_params(index, ef, project):
    def prepare():
        index.expansion_search = ef
        return lambda q: index.search(project(q), K, threads=1).keys
    return prepare


CANDIDATES = {"faiss-hnsw": faiss_hnsw, "faiss-pca-hnsw-sq8": faiss_pca_hnsw_sq8, "faiss-pca-ivfpq": faiss_pca_ivfpq,
              "hnswlib": hnswlib_hnsw, "usearch": usearch_hnsw}


def serve(search, queries) -> tuple[float, float, np.ndarray]:
    """p50, p95 (ms) of one query at a time with 1 thread, and the ids found."""
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1) if threadpool_limits else nullcontext():
        for q in queries[:10]:
            search(q)
        found, ms = np.full((len(queries), K), -1), []
        for i, q in enumerate(queries):
            start = time.perf_counter()
            ids = np.asarray(search(q)).ravel()[:K]
            ms.append((time.perf_counter() - start) * 1000)
            found[i, :len(ids)] = ids
    return statistics.median(ms), statistics.quantiles(ms, n=20)[18], found


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def at_full(value: float, n: int, scaling: str, build: bool = False) -> float:
    ratio = FULL / n
    if scaling == "log":
        return value * ratio * math.log(FULL) / math.log(n) if build else value * math.log(FULL) / math.log(n)
    return value * (ratio ** 1.5 if build else math.sqrt(ratio)) if scaling == "sqrt" else value * ratio


def run_size(base, queries, names, seed) -> None:
    n, d = base.shape
    truth = np.concatenate([np.argpartition(-(queries[i:i + 100] @ base.T), K, axis=1)[:, :K]
                            for i in range(0, len(queries), 100)])
    e50, e95, found = serve(lambda q: np.argpartition(-(base @ q), K)[:K], queries)
    print(f"\n{n:,} x {d}, {len(queries)} queries. exact (numpy, 1 thread): recall@5 {recall(found, truth):.3f}  "
          f"p50 {e50:.2f} ms  p95 {e95:.2f} ms  {4 * d:,} B/product -> {4 * d * FULL / 1e9:.1f} GB and "
          f"p50 ~{at_full(e50, n, 'linear'):.0f} ms at 1M")
    pca_cache: list[Pca] = []
    def pca() -> Pca:
        if not pca_cache:
            pca_cache.append(Pca(base, seed))
            print(f"  PCA {d}->{PCA_DIMS}: {pca_cache[0].kept:.1%} of variance kept, fitted in {pca_cache[0].seconds:.1f} s")
        return pca_cache[0]
    rows = []
    for name in names:
        for lib, label, secs, saved, grew, scaling, settings in CANDIDATES[name](base, {"pca": pca}):
            print(f"  {lib} {label}: built in {secs:.1f} s (~{at_full(secs, n, scaling, True) / 60:.0f} min at 1M), "
                  f"{saved / n:,.0f} B/product saved, RSS +{grew / n:,.0f} B/product")
            for setting, extra, prepare in settings:
                p50, p95, found = serve(prepare(), queries)
                row = dict(lib=lib, what=f"{label} {setting}", recall=recall(found, truth), p50=p50, p95=p95,
                           bytes=saved / n + extra, build=secs, scaling=scaling)
                rows.append(row)
                print(f"    {setting:34} recall@5 {row['recall']:.3f}  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                      f"x{e50 / p50:6.1f} vs exact  {row['bytes']:7,.0f} B/product")
            settings = prepare = None  # drop this build's index before the next one is built
    summarise(rows, n, e50)


def summarise(rows: list[dict], n: int, exact_p50: float) -> None:
    def line(r):
        return (f"{r['what']}: recall@5 {r['recall']:.3f}, p50 {r['p50']:.2f} ms (x{exact_p50 / r['p50']:.1f} vs exact; "
                f"~{at_full(r['p50'], n, r['scaling']):.1f} ms at 1M), {r['bytes']:,.0f} B/product -> "
                f"{r['bytes'] * FULL / TARGET_BYTES:.2f} GiB at 1M, build {r['build']:.0f} s "
                f"(~{at_full(r['build'], n, r['scaling'], True) / 60:.0f} min at 1M)")
    print(f"\nFastest setting per library with recall@5 >= {TARGET_RECALL} at {n:,}:")
    for lib in dict.fromkeys(r["lib"] for r in rows):
        ok = [r for r in rows if r["lib"] == lib and r["recall"] >= TARGET_RECALL]
        best = max((r for r in rows if r["lib"] == lib), key=lambda r: r["recall"])
        print(f"  {lib:8} " + (line(min(ok, key=lambda r: r["p50"])) if ok else f"none (best recall {best['recall']:.3f}: {best['what']})"))
    good = [r for r in rows if r["recall"] >= TARGET_RECALL]
    fits = [r for r in good if r["bytes"] * FULL <= TARGET_BYTES]
    if fits:
        r = min(fits, key=lambda r: at_full(r["p50"], n, r["scaling"]))
        misses = [what for what, ok in (("p50", at_full(r["p50"], n, r["scaling"]) <= TARGET_P50_MS),
                                        ("build time", at_full(r["build"], n, r["scaling"], True) <= TARGET_BUILD_S)) if not ok]
        print(f"Recommendation: {r['lib']} {line(r)}; within 1 GiB at 1M" +
              (f", but extrapolated {' and '.join(misses)} miss the target." if misses else "; meets all targets by extrapolation."))
    elif good:
        r = min(good, key=lambda r: r["bytes"])
        print(f"Recommendation: none reaches recall@5 >= {TARGET_RECALL} within 1 GiB at 1M; the smallest that reaches "
              f"the recall is {r['lib']} {line(r)}, {r['bytes'] * FULL / TARGET_BYTES:.1f}x the memory target.")
    else:
        print(f"Recommendation: none reaches recall@5 >= {TARGET_RECALL}; widen the sweep or check the vectors.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--vectors", type=Path, help=".npy of real catalogue vectors (rows), instead of synthetic ones")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20,000 vectors, to check that everything runs")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else sorted(args.sizes)
    print(describe())
    print(", ".join(f"{p} {version(p)}" for p in ("faiss-cpu", "hnswlib", "usearch", "numpy")) + "; queries 1 thread "
          f"({'numpy BLAS too' if threadpool_limits else 'numpy BLAS at its default: no threadpoolctl'}), builds {CORES}")
    start = time.perf_counter()
    base_all, queries = load(args, max(sizes))
    print(f"{'vectors ' + str(args.vectors) if args.vectors else 'synthetic vectors'}: {len(base_all):,} + "
          f"{len(queries)} held-out queries, {time.perf_counter() - start:.1f} s to make")
    for n in sizes:
        run_size(base_all[:min(n, len(base_all))], queries, args.candidates, args.seed)


if __name__ == "__main__":
    main()
