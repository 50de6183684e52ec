"""Basket rules as a whole process from the command line: `python -m recommend rules` on the full
Online Retail file against a process that reads the same file with pandas and mines it with
efficient-apriori (the fastest library in bench/rules.py at this support), same baskets and
thresholds. Start-up, reading and writing are all counted, as a user waits for them.

    python bench/rules_cli.py [--online-retail PATH] [--min-support 0.01] [--repeat 3]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import DATASETS, describe  # bench/harness.py, beside this script

SHARED = DATASETS / "online_retail" / "online_retail.csv.gz"
BASELINE = """
import sys
import pandas as pd
from efficient_apriori import apriori
lines = pd.read_csv(sys.argv[1], usecols=["InvoiceNo", "Description", "Quantity"], dtype=str, keep_default_na=False)
lines = lines[pd.to_numeric(lines["Quantity"], errors="coerce") > 0]
lines = lines.assign(InvoiceNo=lines["InvoiceNo"].str.strip(), Description=lines["Description"].str.strip())
lines = lines[(lines["InvoiceNo"] != "") & (lines["Description"] != "")]
baskets = [tuple(sorted(set(g))) for _, g in lines.groupby("InvoiceNo", sort=False)["Description"]]
_, rules = apriori(baskets, min_support=float(sys.argv[2]), min_confidence=float(sys.argv[3]), max_length=int(sys.argv[4]))
print(len([r for r in rules if r.lift >= float(sys.argv[5])]), "rules")
"""


def timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout.strip().splitlines()[-1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--online-retail", type=Path, default=SHARED)
    p.add_argument("--min-support", type=float, default=0.01)
    p.add_argument("--min-confidence", type=float, default=0.5)
    p.add_argument("--min-lift", type=float, default=1.0)
    p.add_argument("--max-length", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = p.parse_args()
    print(describe(), flush=True)
    thresholds = [str(args.min_support), str(args.min_confidence), str(args.max_length), str(args.min_lift)]
    with tempfile.TemporaryDirectory() as tmp:
        ours_cmd = [sys.executable, "-m", "recommend", "rules", "--baskets", str(args.online_retail),
                    "--basket-col", "InvoiceNo", "--item-col", "Description", "--quantity-col", "Quantity",
                    "--min-support", thresholds[0], "--min-confidence", thresholds[1], "--max-length", thresholds[2],
                    "--min-lift", thresholds[3], "--out", str(Path(tmp) / "rules")]
        theirs_cmd = [sys.executable, "-c", BASELINE, str(args.online_retail), *thresholds]
        ours = min((timed(ours_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
        theirs = min((timed(theirs_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
    print(f"python -m recommend rules (whole process):   {ours[0]:6.2f} s   {ours[1][:90]}")
    print(f"pandas + efficient-apriori (whole process):  {theirs[0]:6.2f} s   {theirs[1]}")
    print(f"ratio: {theirs[0] / ours[0]:.1f}x (best of {args.repeat} each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
