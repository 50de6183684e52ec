"""What the API's checks cost: lookups with keys against the same server with --no-auth, measured
with wrk in one run, on 127.0.0.1 only.

    python bench/api_auth.py [--seconds 10] [--connections 16] [--rounds 3]

Starts `python -m api` twice on the demo sets (no visual index): once with a key (no rate limit),
once with --no-auth. Then, alternating between the two so that drift on the machine falls on both,
`--rounds` runs of `wrk -t1 -c CONNECTIONS -d SECONDS --latency` of GET /v1/next-to over the demo
items; a Lua script counts every answer that is not 200 (it must be 0: a 401 or 429 would be
cheap and flatter the keyed server). Prints requests/s and p50/p99 of each, the ratio keyed /
open, and the non-200 count. Needs Debian's `wrk` (apt-get install wrk).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_server import add_key, need_wrk, next_to_paths, paths_file, start_api, stop, wrk  # noqa: E402
from bench.harness import describe  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    need_wrk()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_api_auth_"))
    keys, key = add_key(work, "bench")
    paths = paths_file(work, next_to_paths())
    keyed, keyed_url = start_api(work, "--no-visual", "--keys-file", str(keys))
    open_, open_url = start_api(work, "--no-visual", "--no-auth", "--keys-file", str(work / "none.toml"))
    runs = {"keys": [], "no-auth": []}
    try:
        for url, k in ((keyed_url, key), (open_url, "")):  # warm both: every lookup table built
            wrk(url, k, paths, 2, args.connections)
        for _ in range(args.rounds):
            runs["keys"].append(wrk(keyed_url, key, paths, args.seconds, args.connections))
            runs["no-auth"].append(wrk(open_url, "", paths, args.seconds, args.connections))
    finally:
        for proc in (keyed, open_):
            stop(proc)
    summary = {}
    for name, results in runs.items():
        summary[name] = {m: statistics.median(r[m] for r in results) for m in ("rps", "p50", "p99")}
        non200 = sum(r["non200"] for r in results)
        print(f"{name}: {summary[name]['rps']:,.0f} requests/s, p50 {summary[name]['p50']:.2f} ms, "
              f"p99 {summary[name]['p99']:.2f} ms (median of {len(results)} runs of {args.seconds} s at "
              f"{args.connections} connections); answers other than 200: {non200}")
        if non200:
            print(f"  {name} answered {non200} non-200: the figures above are not valid")
    k, o = summary["keys"], summary["no-auth"]
    print(f"keys / no-auth: throughput {k['rps'] / o['rps']:.3f}x, p99 {k['p99'] / o['p99']:.3f}x "
          f"(target: throughput >= 0.95x)")


if __name__ == "__main__":
    main()
