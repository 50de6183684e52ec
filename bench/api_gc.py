"""The API's tail with what it loaded frozen out of the garbage collector's way (common/heap.py)
against the same API with VITRINE_GC_FREEZE=0, measured with wrk in one run, on 127.0.0.1.

    python bench/api_gc.py [--seconds 10] [--connections 16] [--rounds 3] [--reloads 20]

Starts `python -m api` twice on the demo sets and the bench's visual index (60 products, random
weights: TensorFlow loaded, as in production), one key without a rate limit; then, alternating
so that drift falls on both, `--rounds` runs of `wrk -t1 -c CONNECTIONS -d SECONDS --latency`
of GET /v1/next-to over the demo items. Prints requests/s, p50 and p99 of each (median of the
rounds; p99.9 and the slowest as the worst of the rounds), the ratios frozen / not, and each
server's collector pauses from /metrics. Then `--reloads` calls of POST /v1/admin/reload on
each server, with its resident memory before and after (the old versions must be collected:
the frozen server no worse than the other).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_server import add_key, need_wrk, next_to_paths, paths_file, start_api, stop, wrk  # noqa: E402
from bench.app_server import bench_index  # noqa: E402
from bench.harness import describe  # noqa: E402


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _call(base: str, key: str, path: str, method: str = "GET") -> str:
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=300) as answer:
        return answer.read().decode()


def _pauses(text: str) -> str:
    """"gen0 1,234 (0.31 s), gen1 ..., gen2 ... (longest bucket)" from /metrics."""
    parts = []
    for generation in ("0", "1", "2"):
        count = sum(float(v) for v in re.findall(
            rf'vitrine_gc_pause_seconds_count{{generation="{generation}"}} (\S+)', text))
        total = sum(float(v) for v in re.findall(
            rf'vitrine_gc_pause_seconds_sum{{generation="{generation}"}} (\S+)', text))
        parts.append(f"gen{generation} {count:,.0f} pauses, {total:.2f} s in all")
    return "; ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reloads", type=int, default=20)
    args = p.parse_args()
    need_wrk()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_api_gc_"))
    index = bench_index(work)
    keys, key = add_key(work, "bench", "admin")
    paths = paths_file(work, next_to_paths())
    env = {"VITRINE_WEIGHTS": "none", "VITRINE_VISUAL_INDEX": str(index)}
    servers = {"frozen": start_api(work, "--keys-file", str(keys), env={**env, "VITRINE_GC_FREEZE": "1"}),
               "VITRINE_GC_FREEZE=0": start_api(work, "--keys-file", str(keys), env={**env, "VITRINE_GC_FREEZE": "0"})}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for _, base in servers.values():  # warm both: every lookup table built
            wrk(base, key, paths, 2, args.connections)
        for _ in range(args.rounds):
            for name, (_, base) in servers.items():
                runs[name].append(wrk(base, key, paths, args.seconds, args.connections))
        for name, (proc, base) in servers.items():
            results = runs[name]
            rps, p50, p99 = (statistics.median(r[m] for r in results) for m in ("rps", "p50", "p99"))
            p999, slowest = (max(r[m] for r in results) for m in ("p999", "max"))
            bad = sum(r["non200"] for r in results)
            print(f"{name}: {rps:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms (medians of {len(results)} "
                  f"runs of {args.seconds} s at {args.connections} connections), p99.9 {p999:.1f} ms, slowest "
                  f"{slowest:.1f} ms (worst run); answers other than 200: {bad}; RSS {_rss_mb(proc.pid):.0f} MB")
            print(f"  collector: {_pauses(_call(base, key, '/metrics'))}")
        frozen, loose = (runs[n] for n in servers)
        f99, l99 = (statistics.median(r["p99"] for r in x) for x in (frozen, loose))
        f999, l999 = (max(r["p999"] for r in x) for x in (frozen, loose))
        frps, lrps = (statistics.median(r["rps"] for r in x) for x in (frozen, loose))
        print(f"frozen / VITRINE_GC_FREEZE=0: p99 {f99 / l99:.3f}x, p99.9 {f999 / l999:.3f}x, throughput "
              f"{frps / lrps:.3f}x (target: tails lower, throughput not lower)")
        for name, (proc, base) in servers.items():
            before = _rss_mb(proc.pid)
            sizes = []
            for _ in range(args.reloads):
                _call(base, key, "/v1/admin/reload", "POST")
                sizes.append(_rss_mb(proc.pid))
            print(f"{args.reloads} reloads of every loaded artifact, {name}: RSS {before:.0f} MB before, "
                  f"{sizes[0]:.0f} MB after the first, {sizes[-1]:.0f} MB after the last "
                  f"({(sizes[-1] - sizes[0]) / max(1, len(sizes) - 1):+.1f} MB per reload after the first)")
    finally:
        for proc, _ in servers.values():
            stop(proc)


if __name__ == "__main__":
    main()
