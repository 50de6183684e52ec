"""Visual search at catalogue scale, through Vitrine's own code: exact vs the approximate index
(`embed/ann.py`) on the same vectors, in one run per size.

For each size (default 100,000 and 1,000,000 products x 2048 dims) an index folder is written with
`embed.index.writing(..., index_type="approximate")`, vectors drawn by bench/vectors.py (`--like`
real embeddings: each synthetic product near a real one, with the real vectors' covariance; else
generic clusters), items.csv with the columns a shop has (id, url, name, type, gender, colour).
Then, one query at a time on 1 thread, as the app serves a photo (held-out vectors, never in the
index): exact search (`embed.index.search` without the approximate index, the baseline) and the
approximate index: recall@5 against exact, p50/p95, warm and with the candidates' rows dropped
from the page cache before each query (posix_fadvise: a cold disk); with filters passing 50%,
10%, 2% and 0.5% of the products; bytes in memory; build time and peak RSS; and the resident
memory of an app process (the model loaded, `embed.query.QueryEngine` over this index, 20 photo
queries). `--runner-up` also builds the second-best candidate of bench/decisions/ann_candidates.py (faiss
PCA384,IVF,PQ64, re-ranked the same way) on the same vectors.
Usage:
    python bench/visual_index_scale.py [--sizes 100000 1000000] [--like PATH.npy] [--queries 200]
                                       [--runner-up] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import settings  # noqa: E402
from embed import ann, index  # noqa: E402
from embed.weights import model_identity, parse_weights  # noqa: E402
from harness import describe, percentiles, reset_peak  # noqa: E402  (bench/harness.py)
from harness import rss as status  # noqa: E402
from vectors import CHUNK, generator, statistics as describe_vectors  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

K = 5
SHARES = (0.5, 0.1, 0.02, 0.005)
TYPES = ["Tshirts", "Shirts", "Casual Shoes", "Watches", "Sports Shoes", "Kurtas", "Tops", "Handbags", "Heels",
         "Sunglasses", "Wallets", "Flip Flops", "Sandals", "Briefs", "Belts"]




class PeakAnon:
    """The highest anonymous resident memory (RssAnon: not the page cache, not mapped files) seen
    while the block runs, sampled every 0.2 s."""

    def __enter__(self):
        import threading

        self.peak, self._stop = status("RssAnon"), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, status("RssAnon"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def catalogue(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.char.add("p", np.arange(n).astype(str))
    return pd.DataFrame({
        "id": ids, "file": "", "sha256": [f"{i:064x}" for i in rng.integers(0, 2**62, n)],
        "url": np.char.add(np.char.add("https://cdn.example.com/images/", ids), ".jpg"),
        "productDisplayName": np.char.add("Product ", ids),
        "articleType": np.array(TYPES)[rng.integers(0, len(TYPES), n)],
        "gender": np.array(["Men", "Women", "Boys", "Girls", "Unisex"])[rng.integers(0, 5, n)],
        "baseColour": np.array(["Black", "White", "Blue", "Red", "Grey", "Green"])[rng.integers(0, 6, n)],
        "shard": rng.random(n),  # a filter of any share: shard < share
    })


def write_folder(folder: Path, n: int, gen) -> float:
    """The index folder with its approximate index; the seconds the approximate index took."""
    identity = model_identity(parse_weights("none"), "fp32")
    manifest = {"identity": identity, "weights_source": "none", "precision": "fp32", "skipped": [],
                "synthetic": True}
    with index.writing(folder, catalogue(n), 2048, manifest, index_type="approximate", progress=True) as (matrix, draft):
        for number, start in enumerate(range(0, n, CHUNK)):
            matrix[start:start + CHUNK] = gen.chunk(number, min(CHUNK, n - start))
        matrix.flush()
        began = time.perf_counter()
    return time.perf_counter() - began  # the approximate index and items.csv, built on leaving the block


def one_thread():
    import faiss

    faiss.omp_set_num_threads(1)
    return threadpool_limits(1) if threadpool_limits else None


def exact_truth(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Exact top-K for every query at once, streamed over the vectors (all cores)."""
    best_s = np.full((len(queries), K), -np.inf, np.float32)
    best_i = np.zeros((len(queries), K), np.int64)
    for start in range(0, len(vectors), CHUNK):
        s = queries @ np.asarray(vectors[start:start + CHUNK]).T
        if mask is not None:
            s[:, ~mask[start:start + CHUNK]] = -np.inf
        both_s = np.concatenate([best_s, s], axis=1)
        both_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + s.shape[1]), s.shape)], axis=1)
        keep = np.argpartition(-both_s, K - 1, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(both_s, keep, 1), np.take_along_axis(both_i, keep, 1)
    return best_i


def timed(fn, queries, before=None) -> tuple[float, float, list[np.ndarray]]:
    """p50 and p95 (ms) of fn over the queries, one at a time, and what it found for each."""
    ms, found = [], []
    for q in queries:
        if before:
            before()
        start = time.perf_counter()
        table = fn(q)
        ms.append((time.perf_counter() - start) * 1000)
        found.append(table)
    return (*percentiles(ms), found)


def recall(found_ids: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found_ids, truth)]))


def app_rss(folder: Path) -> dict:
    """Resident memory of a process serving visual search over `folder`: model loaded, 20 photo queries."""
    code = f"""
import io, json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import numpy as np
from PIL import Image
from embed.query import QueryEngine
def field(name):
    for line in open('/proc/self/status'):
        if line.startswith(name + ':'):
            return int(line.split()[1]) * 1024
engine = QueryEngine.open({str(folder)!r}, 'none')
for seed in range(20):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(buf, 'JPEG')
    hits = engine.search(buf.getvalue(), 5)
    assert len(hits) == 5
more = engine.index.items['id'].iloc[0]
from embed import index
assert len(index.answer(engine.index, more, 5)) == 5
print(json.dumps({{k: field(k) for k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile')}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def drop_cache(path: Path):
    fd = os.open(path, os.O_RDONLY)
    return lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def runner_up(vectors: np.ndarray, approx: ann.Approximate, queries, truth) -> None:
    """The runner-up of bench/decisions/ann_candidates.py, faiss PCA384,HNSW32,SQ8 (efConstruction 128), its top
    100 re-ranked from the same file by pread, timed as the winner's raw search is."""
    import faiss

    n, d = vectors.shape
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    began = time.perf_counter()
    hnsw = faiss.index_factory(d, "PCA384,HNSW32,SQ8", faiss.METRIC_L2)
    faiss.downcast_index(hnsw.index).hnsw.efConstruction = 128
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, 50_000), replace=False))
    hnsw.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, n, 65_536):
        hnsw.add(np.ascontiguousarray(vectors[start:start + 65_536]))
    secs = time.perf_counter() - began
    size = faiss.serialize_index(hnsw).size
    one_thread()
    for index_, name in ((hnsw, "runner-up PCA384,HNSW32,SQ8"), (approx._index, f"winner {approx.params['factory']}")):
        for setting in ((64,) if index_ is hnsw else (approx.params["nprobe"],)):
            params = (faiss.SearchParametersHNSW(efSearch=setting) if index_ is hnsw
                      else faiss.SearchParametersIVF(nprobe=setting))

            def search(q):
                x = q[None]
                for transform in ([faiss.downcast_VectorTransform(index_.chain.at(0))]):
                    x = transform.apply(x)
                _, found = faiss.downcast_index(index_.index).search(x, 100, params=params)
                pos = np.sort(found[0][found[0] >= 0])
                return pos[np.argsort(-(approx.rows(pos) @ q))[:K]]
            p50, p95, found = timed(search, queries)
            memory = size if index_ is hnsw else approx.memory_bytes()
            built = secs if index_ is hnsw else approx.params.get("build_seconds", float("nan"))
            print(f"  {name} raw (no result table) +top100: recall@5 {recall(found, truth):.3f}  p50 {p50:.2f} ms  "
                  f"p95 {p95:.2f} ms  {memory / n:,.0f} B/product in memory ({memory / 2**30:.2f} GiB)  build {built:.0f} s")


def run(n: int, gen, args, root: Path) -> None:
    folder = root / f"index-{n}"
    if (folder / "manifest.json").is_file():  # --keep DIR from an earlier run: measure searches again
        built = index.load(folder)
        print(f"\n{n:,} x 2048: the folder of an earlier run ({folder}); its approximate index took "
              f"{built.manifest['vector_storage']['approximate'].get('build_seconds', float('nan')):.0f} s to build")
    else:
        reset_peak()
        began = time.perf_counter()
        with PeakAnon() as anon:
            ann_s = write_folder(folder, n, gen)
        total_s = time.perf_counter() - began
        built = index.load(folder)
        print(f"\n{n:,} x 2048: folder written in {total_s:.0f} s, of which the approximate index "
              f"{ann_s:.0f} s ({ann_s / 60:.1f} min); build peak RSS {status('VmHWM') / 2**30:.2f} GiB with the "
              f"vectors' pages written through the memory map, {anon.peak / 2**30:.2f} GiB anonymous; "
              f"vectors {describe_vectors(built.vectors)}")
    approx = built.approximate
    vectors_file = folder / index.VECTORS_FILE

    def fresh() -> np.ndarray:  # a memmap of its own, unmapped when dropped, so the page cache can be emptied
        return np.load(vectors_file, mmap_mode="r")

    queries = np.concatenate([gen.chunk(10_000 + i, 1) for i in range(args.queries)])  # held out
    masks = {share: built.items["shard"].to_numpy() < share for share in SHARES}
    truth = exact_truth(fresh(), queries)
    filtered_truth = {share: exact_truth(fresh(), queries[:100], mask) for share, mask in masks.items()}
    one_thread()
    ids = {pid: i for i, pid in enumerate(built.ids)}

    def positions(table):
        return np.array([ids[p] for p in table["id"]])

    # Cold first: nothing of this process maps the vectors yet (the approximate index reads rows by pread).
    c50, c95, found = timed(lambda q: positions(index.search(built, q, K)), queries[:100],
                            before=drop_cache(vectors_file))
    exact = index.VectorIndex(vectors=fresh(), ids=built.ids, items=built.items, manifest=built.manifest)
    for q in queries[:2]:  # the cold queries emptied the page cache: read the vectors in once
        index.search(exact, q, K)
    exact_q = queries[: max(20, args.queries // 10) if n > 200_000 else len(queries)]
    e50, e95, found_exact = timed(lambda q: positions(index.search(exact, q, K)), exact_q)
    a50, a95, found_warm = timed(lambda q: positions(index.search(built, q, K)), queries)
    mem = approx.memory_bytes()
    print(f"  exact (float32 memmap, 1 thread):       recall@5 {recall(found_exact, truth):.3f}  p50 {e50:7.2f} ms  "
          f"p95 {e95:7.2f} ms  {4 * 2048:,} B/product ({4 * 2048 * n / 2**30:.2f} GiB)")
    print(f"  approximate ({approx.params['factory']}, warm): recall@5 {recall(found_warm, truth):.3f}  p50 {a50:7.2f} ms  "
          f"p95 {a95:7.2f} ms  {mem / n:,.0f} B/product in memory ({mem / 2**30:.2f} GiB)  x{e50 / a50:.0f} vs exact")
    print(f"  approximate, candidates' rows not cached: recall@5 {recall(found, truth[:100]):.3f}  p50 {c50:7.2f} ms  "
          f"p95 {c95:7.2f} ms")
    for share, mask in masks.items():
        f50, f95, found = timed(lambda q: positions(index.search(built, q, K, mask=mask)), queries[:100])
        full = all(len(f) == K for f in found)
        print(f"  filter passing {share:>5.1%} ({int(mask.sum()):>7,}): recall@5 {recall(found, filtered_truth[share]):.3f}  "
              f"p50 {f50:7.2f} ms  p95 {f95:7.2f} ms  {'5 results every time' if full else 'FEWER THAN 5 RESULTS'}")
    del exact
    rss = app_rss(folder)
    print(f"  app process (model + this index + 20 photo queries + More like this): RSS {rss['VmRSS'] / 2**30:.2f} GiB "
          f"(anonymous {rss['RssAnon'] / 2**30:.2f}, file-backed {rss['RssFile'] / 2**30:.2f}), peak "
          f"{rss['VmHWM'] / 2**30:.2f} GiB")
    if args.runner_up:
        runner_up(fresh(), approx, queries, truth)
    del built, approx
    if not args.keep:
        shutil.rmtree(folder.parent / (folder.name + ".v1"), ignore_errors=True)
        folder.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--like", type=Path, help="real vectors (.npy) for the synthetic ones to imitate")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runner-up", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the index folders here")
    args = parser.parse_args()
    print(describe())
    import faiss
    print(f"faiss-cpu {faiss.__version__}, numpy {np.__version__}; queries on 1 thread, builds on "
          f"{len(os.sched_getaffinity(0))}; settings: PCA {settings.ANN_PCA_DIMS}, PQ {settings.ANN_PQ_M} bytes, "
          f"nprobe {settings.ANN_NPROBE}, re-rank {settings.ANN_RERANK}")
    gen = generator(args.like)
    if args.like:
        real = np.load(args.like, mmap_mode="r")
        print(f"vectors like {args.like} ({len(real):,} real): real {describe_vectors(real)}")
        print(f"  synthetic at the same size: {describe_vectors(gen.chunk(99_999, len(real)))}")
    else:
        print("vectors: generic synthetic clusters (bench/vectors.py Clustered)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="vitrine-scale-", dir=os.environ.get("TMPDIR", "/tmp")))
    root.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            run(n, gen, args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
