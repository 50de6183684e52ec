"""Decided: faiss IVF-PQ (with PCA to 384 dims and exact re-scoring) as the approximate index of catalogues of 100,000 products and more: embed/ann.py, settings.ANN_*.

ANN candidates for visual search (faiss, hnswlib, usearch), each against exact search in the same run.

First step of choosing an ANN library for up to 1,000,000 products x 2048 dims on 2 cores. Targets at 1M:
query p50 <= 10 ms, recall@5 >= 0.95 against exact inner-product search on the same vectors, index in RAM
<= 1 GiB, build <= 15 minutes. Vectors (bench/vectors.py): generic synthetic clusters (non-negative sparse-ish
centres + noise, clipped at 0, L2-normalised; seeded), synthetic ones drawn like real vectors (--like), or
the real ones themselves (--vectors); queries are
held-out points, never in the index. Each index is built once per build setting (all cores) and only its
search parameters are swept; queries go one at a time on 1 thread (faiss OpenMP, hnswlib, usearch, numpy's
BLAS via threadpoolctl), as the app serves one photo. Baseline: exact search (numpy matmul + argpartition,
as embed.index does), 1 thread; each line gives the speed-up over it. "+top100": the index's top 100
re-scored exactly from float16 rows in RAM (ram-f16) or from the float32 vectors file through a memmap, as
the app keeps them (disk-f32; warm page cache here, a cold one adds up to 100 random 8 KB reads a query).
RAM: the serialised index (fixed part + bytes per product) plus any RAM store and IVF-PQ's L2 tables;
RSS: the process's growth during the build. Figures at 1M are rough extrapolations: HNSW ~log n a query,
n log n to build; IVF (nlist = 4 sqrt(n)) ~sqrt(n) a query, n^1.5 to build, fixed part ~sqrt(n); exact ~n.
Usage:
    python bench/decisions/ann_candidates.py [--quick] [--sizes 100000 ...] [--candidates faiss-hnsw ...]
                                   [--vectors PATH.npy | --like PATH.npy] [--queries 500] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from contextlib import nullcontext
from functools import partial
from importlib.metadata import version
import sys
from pathlib import Path

import faiss
import hnswlib
import numpy as np
from usearch.index import Index as UsearchIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: harness, vectors
from harness import describe, percentiles, reset_peak, rss  # noqa: E402
from vectors import fill, generator, normalise  # noqa: E402  (bench/vectors.py)

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # then numpy's BLAS keeps its own thread count (said in the header line)
    threadpool_limits = None

K, RERANK, EF_ADD, FULL = 5, 100, 128, 1_000_000
TARGET_RECALL, TARGET_P50_MS, TARGET_BYTES, TARGET_BUILD_S = 0.95, 10.0, 1024 ** 3, 15 * 60
CORES = len(os.sched_getaffinity(0))




def load(args: argparse.Namespace, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(base of up to n rows, queries), L2-normalised float32; the queries are not in the base."""
    if args.vectors:
        data = np.load(args.vectors, mmap_mode="r")
        rows = np.random.default_rng(args.seed).permutation(len(data))[:n + args.queries]
        x = np.ascontiguousarray(data[np.sort(rows)], dtype=np.float32)
        np.random.default_rng(args.seed).shuffle(x)
        x = normalise(x)
    else:  # bench/vectors.py: drawn like real vectors (--like), or generic clusters
        x = np.empty((n + args.queries, 2048), dtype=np.float32)
        fill(generator(args.like, args.seed), x)
    return x[:-args.queries], x[-args.queries:]


def built(make) -> tuple[object, float, int, int]:
    """make() -> (index, fixed bytes) run on all cores: (index, seconds, fixed bytes, RSS growth in bytes)."""
    faiss.omp_set_num_threads(CORES)
    reset_peak()
    before, start = rss(), time.perf_counter()
    index, fixed = make()
    return index, time.perf_counter() - start, fixed, rss() - before


def file_size(write) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "index"))
        return os.path.getsize(os.path.join(tmp, "index"))


# A candidate yields per build setting: (library, label, build s, fixed bytes, added bytes, RSS growth, scaling,
# re-rank?, search(q, k) -> ids, [(setting, apply it)]). Fixed: the trained index before any vector is added
# (serialised, plus tables kept only in RAM); added: what the n vectors add to the serialised index.

def faiss_builds(*specs):
    def candidate(base):
        n, d = base.shape
        for spec, param, values, rerank in specs:
            spec = spec.format(nlist=int(4 * math.sqrt(n)))
            def make():  # L2 after PCA (it centres the vectors); inner product otherwise
                index = faiss.index_factory(d, spec, faiss.METRIC_L2 if "PCA" in spec else faiss.METRIC_INNER_PRODUCT)
                inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
                if "HNSW" in spec:
                    inner.hnsw.efConstruction = EF_ADD
                if "IVF" in spec:  # 10 k-means rounds; polysemous training takes minutes and is not used here
                    inner.cp.niter = inner.pq.cp.niter = 10
                    inner.do_polysemous_training = False
                index.train(base[np.sort(np.random.default_rng(0).choice(n, min(n, 50_000), replace=False))])
                fixed = file_size(partial(faiss.write_index, index))
                step = 2048 if "IVF" in spec else n  # IVF-PQ encodes a batch via batch x m x 256 tables (GBs)
                for i in range(0, n, step):
                    index.add(base[i:i + step])
                return index, fixed
            index, secs, fixed, grew = built(make)
            added = file_size(partial(faiss.write_index, index)) - fixed
            if "IVF" in spec:  # IVF-PQ's L2 look-up tables (nlist x 256 per sub-quantizer) live in RAM only
                fixed += 4 * faiss.downcast_index(faiss.extract_index_ivf(index)).precomputed_table.size()
            yield ("faiss", spec, secs, fixed, added, grew, "sqrt" if "IVF" in spec else "log", rerank,
                   lambda q, k, index=index: index.search(q[None], k)[1][0],
                   [(f"{param}={v}", partial(faiss.ParameterSpace().set_index_parameter, index, param, v)) for v in values])
            del index  # before the next build: one index alive at a time
    return candidate


def hnswlib_candidate(base):
    n, d = base.shape
    for m in (16, 32):
        def make():
            index = hnswlib.Index(space="ip", dim=d)
            index.init_index(max_elements=n, ef_construction=EF_ADD, M=m)
            index.add_items(base, np.arange(n), num_threads=CORES)
            return index, 0
        index, secs, fixed, grew = built(make)
        yield ("hnswlib", f"M={m} f32", secs, fixed, file_size(index.save_index), grew, "log", False,
               lambda q, k, index=index: index.knn_query(q, k=k, num_threads=1)[0][0],
               [(f"ef={ef}", partial(index.set_ef, ef)) for ef in (32, 64, 128, 256)])
        del index


def usearch_candidate(base):
    for dtype in ("f16", "i8"):
        def make():
            index = UsearchIndex(ndim=base.shape[1], metric="ip", dtype=dtype, connectivity=16, expansion_add=EF_ADD)
            index.add(np.arange(len(base)), base, threads=CORES)
            return index, 0
        index, secs, fixed, grew = built(make)
        yield ("usearch", f"M=16 {dtype}", secs, fixed, index.serialized_length, grew, "log", dtype == "i8",
               lambda q, k, index=index: index.search(q, k, threads=1).keys,
               [(f"ef={ef}", partial(setattr, index, "expansion_search", ef)) for ef in (32, 64, 128, 256)])
        del index


CANDIDATES = {
    "faiss-hnsw": faiss_builds(("HNSW16,Flat", "efSearch", (32, 64, 128), False),
                               ("HNSW32,Flat", "efSearch", (32, 64, 128), False)),
    "faiss-pca-hnsw-sq8": faiss_builds(("PCA384,HNSW32,SQ8", "efSearch", (32, 64, 128), True)),
    "faiss-ivfpq": faiss_builds(("IVF{nlist},PQ64", "nprobe", (8, 16, 32, 64), True),
                                ("IVF{nlist},PQ128", "nprobe", (8, 16, 32, 64), True),
                                ("PCA384,IVF{nlist},PQ64", "nprobe", (8, 16, 32, 64), True)),
    "hnswlib": hnswlib_candidate,
    "usearch": usearch_candidate,
}


def reranked(search, rows):
    """The top RERANK of search, re-scored exactly (inner product) against float rows (RAM or memmap)."""
    def fn(q):
        ids = np.sort(np.asarray(search(q, RERANK)).astype(np.int64))
        ids = ids[ids >= 0]
        return ids[np.argsort(-(rows[ids].astype(np.float32) @ q))[:K]]
    return fn


def serve(search, queries) -> tuple[float, float, np.ndarray]:
    """p50 and p95 (ms) of one query at a time on 1 thread, and the ids found."""
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
    return (*percentiles(ms), found)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def at_full(value: float, n: int, scaling: str, build: bool = False) -> float:
    """value (query ms or build s) at n, extrapolated to 1M."""
    r, logs = FULL / n, math.log(FULL) / math.log(n)
    return value * {"log": r * logs if build else logs, "sqrt": r ** 1.5 if build else r ** 0.5, "linear": r}[scaling]


def run_size(base: np.ndarray, queries: np.ndarray, names: list[str]) -> None:
    n, d = base.shape
    truth = np.concatenate([np.argpartition(-(queries[i:i + 100] @ base.T), K, axis=1)[:, :K]
                            for i in range(0, len(queries), 100)])
    e50, e95, found = serve(lambda q: np.argpartition(-(base @ q), K)[:K], queries)
    print(f"\n{n:,} x {d}, {len(queries)} queries. Exact (numpy, 1 thread): recall@5 {recall(found, truth):.3f}  "
          f"p50 {e50:.2f} ms  p95 {e95:.2f} ms, {4 * d:,} B/product -> {4 * d * FULL / TARGET_BYTES:.1f} GiB "
          f"and p50 ~{at_full(e50, n, 'linear'):.0f} ms at 1M")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "vectors.npy"), base)
        stores = {"ram-f16": (base.astype(np.float16), 2 * d, False),
                  "disk-f32": (np.load(os.path.join(tmp, "vectors.npy"), mmap_mode="r"), 0, True)}
        for name in names:
            for lib, label, secs, fixed, added, grew, scaling, rerank, search, settings in CANDIDATES[name](base):
                fixed_1m = fixed * (math.sqrt(FULL / n) if scaling == "sqrt" else 1)  # IVF: nlist ~ sqrt(n)
                print(f"  {lib} {label}: built in {secs:.1f} s (~{at_full(secs, n, scaling, True) / 60:.0f} min at 1M); "
                      f"{fixed / 1e6:.1f} MB fixed + {added / n:,.0f} B/product; RSS +{grew / n:,.0f} B/product, "
                      f"process peak {rss('VmHWM') / 1e9:.1f} GB")
                for setting, apply in settings:
                    apply()
                    variants = [(setting, lambda q: search(q, K), 0, False)] + [
                        (f"{setting} +top{RERANK} {s}", reranked(search, v), ram, disk)
                        for s, (v, ram, disk) in stores.items() if rerank]
                    for what, fn, ram, disk in variants:
                        p50, p95, found = serve(fn, queries)
                        per = added / n + ram
                        rows.append(dict(lib=lib, what=f"{label} {what}", recall=recall(found, truth), p50=p50, disk=disk,
                                         per=per, gib=(fixed_1m + per * FULL) / TARGET_BYTES, build=secs, scaling=scaling))
                        print(f"    {what:34} recall@5 {rows[-1]['recall']:.3f}  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                              f"x{e50 / p50:5.1f} vs exact  {per:6,.0f} B/product in RAM -> {rows[-1]['gib']:5.2f} GiB "
                              f"at 1M" + (f" (+{4 * d:,} B/product on disk)" if disk else ""))
                settings = apply = search = variants = fn = None  # drop this index before the next build
    summarise(rows, n, e50)


def summarise(rows: list[dict], n: int, exact_p50: float) -> None:
    def line(r):
        return (f"{r['lib']} {r['what']}: recall@5 {r['recall']:.3f}, p50 {r['p50']:.2f} ms (x{exact_p50 / r['p50']:.1f} vs "
                f"exact; ~{at_full(r['p50'], n, r['scaling']):.1f} ms at 1M), {r['gib']:.2f} GiB in RAM at 1M"
                f"{' (+ vectors on disk)' if r['disk'] else ''}, build {r['build']:.0f} s "
                f"(~{at_full(r['build'], n, r['scaling'], True) / 60:.0f} min at 1M)")
    print(f"\nFastest setting per library with recall@5 >= {TARGET_RECALL} at {n:,}:")
    for lib in dict.fromkeys(r["lib"] for r in rows):
        ok = [r for r in rows if r["lib"] == lib and r["recall"] >= TARGET_RECALL]
        best = max((r for r in rows if r["lib"] == lib), key=lambda r: r["recall"])
        print("  " + (line(min(ok, key=lambda r: r["p50"])) if ok else f"{lib}: none (best {best['recall']:.3f}: {best['what']})"))
    def verdict(r):
        misses = [what for what, ok in (("p50", at_full(r["p50"], n, r["scaling"]) <= TARGET_P50_MS),
                                        ("build time", at_full(r["build"], n, r["scaling"], True) <= TARGET_BUILD_S)) if not ok]
        return line(r) + (f"; fits 1 GiB, misses the target on extrapolated {' and '.join(misses)}" if misses
                          else "; meets every target by extrapolation")
    good = [r for r in rows if r["recall"] >= TARGET_RECALL]
    fits = sorted((r for r in good if r["gib"] <= 1), key=lambda r: at_full(r["p50"], n, r["scaling"]))
    in_ram = [r for r in fits if not r["disk"]]
    if not fits:
        smallest = min(good, key=lambda r: r["gib"], default=None)
        print(f"Recommendation: nothing reaches recall@5 >= {TARGET_RECALL} within 1 GiB at 1M"
              + (f"; the smallest that reaches it: {line(smallest)}" if smallest else ""))
        return
    print(f"Recommendation: {verdict(fits[0])}")
    if fits[0]["disk"]:
        print("All in RAM: " + (verdict(in_ram[0]) if in_ram else f"nothing reaches recall@5 >= {TARGET_RECALL} within 1 GiB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--vectors", type=Path, help=".npy of real catalogue vectors (rows), instead of synthetic ones")
    parser.add_argument("--like", type=Path, help=".npy of real vectors for synthetic ones to imitate (bench/vectors.py)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20,000 vectors, to check that everything runs")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else sorted(args.sizes)
    print(describe())
    print(", ".join(f"{p} {version(p)}" for p in ("faiss-cpu", "hnswlib", "usearch", "numpy")) + "; queries on 1 thread"
          + ("" if threadpool_limits else " (numpy's BLAS at its default: no threadpoolctl)") + f", builds on {CORES}")
    start = time.perf_counter()
    base_all, queries = load(args, max(sizes))
    print(f"{args.vectors or 'synthetic vectors'}: {len(base_all):,} + {len(queries)} held-out queries, "
          f"{time.perf_counter() - start:.1f} s to make; process peak {rss('VmHWM') / 1e9:.1f} GB")
    for n in sizes:
        run_size(base_all[:n], queries, args.candidates)


if __name__ == "__main__":
    main()
