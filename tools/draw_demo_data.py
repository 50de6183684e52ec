"""Re-draw Vitrine's small demo data sets (data/) from the full public data sets.

    python tools/draw_demo_data.py --datasets ../shared/datasets --out data [--seed 0]

The app and the tests run on these committed subsets; the full sets live outside the repo.
Every draw is seeded (one generator per data set, so changing one draw never shifts another)
and gzip files carry no timestamp or name, so the same inputs, seed and numpy version give
byte-identical outputs. See data/README.md for what each subset holds and why.
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

# Every input, relative to --datasets; all are checked before anything is written.
INPUTS = {
    "fashion_images": "fashion/images",
    "fashion_styles": "fashion/styles.csv",
    "baskets": "market_basket/Market_Basket_Optimisation.csv",
    "online_retail": "online_retail/online_retail.csv.gz",
    "superstore": "superstore/sample_superstore.csv",
    "movielens_ratings": "movielens/ratings.csv",
    "movielens_movies": "movielens/movies.csv",
    "movielens_readme": "movielens/README.txt",
}


def find_inputs(datasets: Path) -> dict[str, Path]:
    """Paths of every input, or exit with one line naming the first one missing."""
    paths = {name: datasets / rel for name, rel in INPUTS.items()}
    for path in paths.values():
        if not path.exists():
            sys.exit(f"error: {path} not found; pass --datasets pointing at the shared data sets folder.")
    return paths


def read_raw_csv(path: Path, **kwargs) -> pd.DataFrame:
    """Every field as the exact text in the file (no NaN, no number parsing), so it is written back unchanged."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Plain UTF-8 CSV, no BOM, LF line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n")


def write_gzip_csv(table: pd.DataFrame, path: Path) -> None:
    """UTF-8 CSV, gzip with mtime 0 and no file name in the header, so the bytes depend on content only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def by_id(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("id", key=lambda s: s.astype(int))


def draw_fashion(images: Path, styles_csv: Path, out: Path, rng: np.random.Generator) -> str:
    """About 20 products of each of the 30 most common articleTypes, one copy of each distinct picture."""
    styles = read_raw_csv(styles_csv)
    have = {p.stem for p in images.glob("*.jpg")}
    styles = by_id(styles[styles["id"].isin(have)])
    top = styles["articleType"].value_counts().head(FASHION_TYPES).index
    # Byte-identical pictures under other ids would be "perfect matches" in visual search;
    # keep the lowest id of each.
    digest = [hashlib.sha256((images / f"{i}.jpg").read_bytes()).hexdigest() for i in styles["id"]]
    distinct = styles[~pd.Series(digest, index=styles.index).duplicated()]
    picked = []
    for kind in sorted(top):
        rows = distinct[distinct["articleType"] == kind]
        take = min(FASHION_PER_TYPE, len(rows))
        picked.append(rows.iloc[np.sort(rng.choice(len(rows), take, replace=False))])
    chosen = by_id(pd.concat(picked))

    target = out / "fashion" / "images"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.jpg"):
        old.unlink()
    for i in chosen["id"]:
        shutil.copyfile(images / f"{i}.jpg", target / f"{i}.jpg")
    write_csv(chosen, out / "fashion" / "styles.csv")
    return (f"fashion: {len(chosen)} images + styles.csv rows, {chosen['articleType'].nunique()} articleTypes "
            f"({len(styles) - len(distinct)} duplicate pictures skipped)")


def draw_baskets(src: Path, out: Path) -> str:
    """The whole Market Basket Optimisation file, byte for byte (it is small)."""
    target = out / "baskets" / "market_basket_optimisation.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    baskets = target.read_bytes().count(b"\n")
    return f"baskets: {baskets} baskets (whole file)"


def draw_online_retail(src: Path, out: Path, rng: np.random.Generator) -> str:
    """Random customers (among those with an id) and every row of their invoices, raw, in file order."""
    table = read_raw_csv(src)
    customers = np.sort(table.loc[table["CustomerID"] != "", "CustomerID"].unique())
    chosen = set(rng.choice(customers, RETAIL_CUSTOMERS, replace=False))
    invoices = set(table.loc[table["CustomerID"].isin(chosen), "InvoiceNo"])
    sample = table[table["InvoiceNo"].isin(invoices)]  # whole invoices, cancellations included
    write_gzip_csv(sample, out / "online_retail" / "online_retail_sample.csv.gz")
    return (f"online_retail: {len(sample)} rows, {len(invoices)} invoices, "
            f"{sample['CustomerID'].nunique()} customers")


def draw_superstore(src: Path, out: Path, rng: np.random.Generator) -> str:
    """Random orders with all their rows; the BOM and CRLF of the source are dropped."""
    table = read_raw_csv(src, encoding="utf-8-sig")
    orders = np.sort(table["Order ID"].unique())
    chosen = set(rng.choice(orders, SUPERSTORE_ORDERS, replace=False))
    sample = table[table["Order ID"].isin(chosen)]
    write_csv(sample, out / "superstore" / "superstore_sample.csv")
    return f"superstore: {len(sample)} rows, {sample['Order ID'].nunique()} orders"


def draw_movielens(ratings_csv: Path, movies_csv: Path, readme: Path, out: Path) -> str:
    """All users, the most-rated movies and all their ratings, so item k-NN still has dense columns."""
    ratings = read_raw_csv(ratings_csv)
    movies = read_raw_csv(movies_csv)
    counts = ratings["movieId"].value_counts()
    # most-rated first; ties broken by id so the cut is stable
    keep = set(sorted(counts.index, key=lambda m: (-counts[m], int(m)))[:MOVIES])
    sample = ratings[ratings["movieId"].isin(keep)]
    write_gzip_csv(sample, out / "movielens" / "ratings.csv.gz")
    write_csv(movies[movies["movieId"].isin(keep)], out / "movielens" / "movies.csv")
    shutil.copyfile(readme, out / "movielens" / "README.txt")  # the licence asks for it
    return (f"movielens: {len(sample)} ratings, {sample['userId'].nunique()} users, "
            f"{len(keep)} movies, README.txt")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets",
                   help="folder holding the full data sets (default: ../shared/datasets from the repo root)")
    p.add_argument("--out", type=Path, default=ROOT / "data", help="where to write the subsets (default: data/)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    src = find_inputs(args.datasets)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(draw_fashion(src["fashion_images"], src["fashion_styles"], out, np.random.default_rng([args.seed, 1])))
    print(draw_baskets(src["baskets"], out))
    print(draw_online_retail(src["online_retail"], out, np.random.default_rng([args.seed, 2])))
    print(draw_superstore(src["superstore"], out, np.random.default_rng([args.seed, 3])))
    print(draw_movielens(src["movielens_ratings"], src["movielens_movies"], src["movielens_readme"], out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
