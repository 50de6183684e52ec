"""The local engine against Spark on one machine, on synthetic order logs of growing size: when is
Spark worth it, and what does it cost? One run, each job its own process tree (so peak memory,
the Spark JVM's included, is its own).

For each size (default 1M, 5M and 20M order lines over 50,000 products, the shop-like orders of
bench/similar_products.py), the same CSV goes through
    python -m recommend similar-products --similarity jaccard ... --engine local
    ... --engine spark --spark-master local[1]
    ... --engine spark --spark-master local[2]
with wall time (process start, reading and writing included: what a user waits for) and peak
resident memory of the whole process tree, sampled every 0.1 s; then the Spark lists are checked
against the local ones (every product's k best, scores to 1e-9). Jaccard, not the default EASE,
so that the figures are the counting that grows with the data (EASE adds one dense inverse on
the driver, the same for both engines). 50M lines would fill this machine's memory (docs/spark.md).

Usage:
    python bench/spark_scaling.py [--sizes 1000000 5000000 20000000] [--driver-memory 12g]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from harness import describe  # bench/harness.py, beside this script
from similar_products import synthetic_order_lines  # bench/similar_products.py: shop-like orders

GB = 1024 ** 3


def measured(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process tree in bytes, stdout's last line) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-2000:]}")
    return seconds, peak, out.strip().splitlines()[0] if out.strip() else ""


def same_lists(a: Path, b: Path) -> str:
    left = pd.read_csv(a / "similar_products.csv", dtype={"item": str, "similar_item": str})
    right = pd.read_csv(b / "similar_products.csv", dtype={"item": str, "similar_item": str})
    if len(left) != len(right) or (left[["item", "rank", "similar_item"]] != right[["item", "rank", "similar_item"]]).any().any():
        return f"DIFFERENT ({len(left):,} vs {len(right):,} rows)"
    gap = float((left["score"] - right["score"]).abs().max())
    return f"same {len(left):,} entries (max score gap {gap:.1e})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--products", type=int, default=50_000)
    p.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    p.add_argument("--driver-memory", default="12g", help="the local Spark's memory (driver = executor)")
    args = p.parse_args()
    print(describe())
    print(f"Synthetic order lines over {args.products:,} products, similar-products --similarity jaccard -k 5; "
          "wall time of the whole command, peak RSS of its process tree (JVM included).")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = Path(tmp) / f"orders_{size}.csv"
            synthetic_order_lines(size, args.products).to_csv(data, index=False)
            base = [sys.executable, "-m", "recommend", "similar-products", "--orders", str(data), "--order-col",
                    "order", "--item-col", "item", "--name-col", "", "--category-col", "", "--similarity",
                    "jaccard", "-k", "5"]
            local_out = Path(tmp) / f"local_{size}"
            seconds, peak, _ = measured([*base, "--out", str(local_out)])
            print(f"{size:>11,} lines  local           {seconds:7.1f} s  peak {peak / GB:5.2f} GiB", flush=True)
            for master in args.masters:
                out = Path(tmp) / f"spark_{size}_{master}"
                s, pk, _ = measured([*base, "--out", str(out), "--engine", "spark", "--spark-master", master,
                                     "--spark-conf", f"spark.driver.memory={args.driver_memory}"])
                print(f"{size:>11,} lines  spark {master:<9} {s:7.1f} s  peak {pk / GB:5.2f} GiB  "
                      f"{s / seconds:5.1f}x local's time; {same_lists(local_out, out)}", flush=True)
            data.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
