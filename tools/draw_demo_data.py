"""Re-draw Vitrine's small demo data sets (data/) from the full public data sets.

    python tools/draw_demo_data.py --datasets ../shared/datasets --out data [--seed 0]

Every draw is seeded, and gzip files are written with a zero timestamp, so the same inputs
give byte-identical outputs. See data/README.md for what each subset holds and why.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FASHION_TYPES = 30  # the most common articleTypes among products that have an image
FASHION_PER_TYPE = 20
RETAIL_CUSTOMERS = 400
SUPERSTORE_ORDERS = 2500
MOVIES = 1500  # the most-rated movies; all users are kept


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"error: {path} not found; pass --datasets pointing at the shared data sets folder.")
    return path


def write_gzip_csv(table: pd.DataFrame, path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def draw_fashion(src: Path, out: Path, rng: np.random.Generator) -> str:
    images = need(src / "images")
    styles = pd.read_csv(need(src / "styles.csv"), dtype=str, keep_default_na=False)
    have = {p.stem for p in images.glob("*.jpg")}
    styles = styles[styles["id"].isin(have)].copy()
    styles["digest"] = [hashlib.sha256((images / f"{i}.jpg").read_bytes()).hexdigest() for i in styles["id"]]
    styles = styles.sort_values("id", key=lambda s: s.astype(int))
    styles = styles.drop_duplicates("digest")  # byte-identical pictures under other ids
    top = styles["articleType"].value_counts().head(FASHION_TYPES).index
    picked = []
    for kind in sorted(top):
        rows = styles[styles["articleType"] == kind]
        take = min(FASHION_PER_TYPE, len(rows))
        picked.append(rows.iloc[np.sort(rng.choice(len(rows), take, replace=False))])
    chosen = pd.concat(picked).drop(columns="digest").sort_values("id", key=lambda s: s.astype(int))
    (out / "fashion" / "images").mkdir(parents=True, exist_ok=True)
    for old in (out / "fashion" / "images").glob("*.jpg"):
        old.unlink()
    for i in chosen["id"]:
        shutil.copyfile(images / f"{i}.jpg", out / "fashion" / "images" / f"{i}.jpg")
    chosen.to_csv(out / "fashion" / "styles.csv", index=False, lineterminator="\n")
    return f"fashion: {len(chosen)} images, {chosen['articleType'].nunique()} articleTypes"


def draw_baskets(src: Path, out: Path) -> str:
    (out / "baskets").mkdir(parents=True, exist_ok=True)
    target = out / "baskets" / "market_basket_optimisation.csv"
    shutil.copyfile(need(src / "Market_Basket_Optimisation.csv"), target)
    return f"baskets: {sum(1 for _ in target.open())} baskets (whole file)"


def draw_online_retail(src: Path, out: Path, rng: np.random.Generator) -> str:
    table = pd.read_csv(need(src / "online_retail.csv.gz"), dtype=str, keep_default_na=False)
    customers = np.sort(table.loc[table["CustomerID"] != "", "CustomerID"].unique())
    chosen = set(rng.choice(customers, RETAIL_CUSTOMERS, replace=False))
    invoices = set(table.loc[table["CustomerID"].isin(chosen), "InvoiceNo"])
    sample = table[table["InvoiceNo"].isin(invoices)]  # whole invoices, original row order
    (out / "online_retail").mkdir(parents=True, exist_ok=True)
    write_gzip_csv(sample, out / "online_retail" / "online_retail_sample.csv.gz")
    return f"online_retail: {len(sample)} rows, {len(invoices)} invoices, {len(chosen)} customers"


def draw_superstore(src: Path, out: Path, rng: np.random.Generator) -> str:
    table = pd.read_csv(need(src / "sample_superstore.csv"), dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    orders = np.sort(table["Order ID"].unique())
    chosen = set(rng.choice(orders, SUPERSTORE_ORDERS, replace=False))
    sample = table[table["Order ID"].isin(chosen)]
    (out / "superstore").mkdir(parents=True, exist_ok=True)
    sample.to_csv(out / "superstore" / "superstore_sample.csv", index=False, lineterminator="\n")
    return f"superstore: {len(sample)} rows, {len(chosen)} orders"


def draw_movielens(src: Path, out: Path) -> str:
    ratings = pd.read_csv(need(src / "ratings.csv"), dtype=str)
    movies = pd.read_csv(need(src / "movies.csv"), dtype=str)
    counts = ratings["movieId"].value_counts()
    # most-rated first; ties broken by id so the draw is stable
    order = sorted(counts.index, key=lambda m: (-counts[m], int(m)))[:MOVIES]
    keep = set(order)
    sample = ratings[ratings["movieId"].isin(keep)]
    (out / "movielens").mkdir(parents=True, exist_ok=True)
    write_gzip_csv(sample, out / "movielens" / "ratings.csv.gz")
    movies[movies["movieId"].isin(keep)].to_csv(out / "movielens" / "movies.csv", index=False,
                                                  lineterminator="\n")
    shutil.copyfile(need(src / "README.txt"), out / "movielens" / "README.txt")
    return (f"movielens: {len(sample)} ratings, {sample['userId'].nunique()} users, "
            f"{len(keep)} movies")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, default=ROOT / "data")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    src, out = need(args.datasets), args.out
    out.mkdir(parents=True, exist_ok=True)
    # One generator per data set, so changing one draw never shifts the others.
    print(draw_fashion(src / "fashion", out, np.random.default_rng([args.seed, 1])))
    print(draw_baskets(src / "market_basket", out))
    print(draw_online_retail(src / "online_retail", out, np.random.default_rng([args.seed, 2])))
    print(draw_superstore(src / "superstore", out, np.random.default_rng([args.seed, 3])))
    print(draw_movielens(src / "movielens", out))


if __name__ == "__main__":
    main()
