"""Vitrine's settings: one home for paths, sizes and defaults.

The CLIs (`python -m embed`, `python -m recommend`) and the Streamlit app read their defaults
from here; an environment variable overrides where one is named.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data"
ARTIFACTS_DIR = Path(os.environ.get("VITRINE_ARTIFACTS", ROOT / "artifacts"))

# The catalogue the app's visual search serves: the demo data committed with the code (see
# data/README.md) unless these point at your own (images named <id>.jpg, a CSV with an id column).
# (VITRINE_CATALOG and VITRINE_CATALOG_IMAGES, the names before "catalogue" became the one spelling, still work.)
DEMO_FASHION_IMAGES = Path(os.environ.get("VITRINE_CATALOGUE_IMAGES", os.environ.get("VITRINE_CATALOG_IMAGES",
                                                                                DATA_DIR / "fashion" / "images")))
DEMO_FASHION_CATALOGUE = Path(os.environ.get("VITRINE_CATALOGUE", os.environ.get("VITRINE_CATALOG",
                                                                             DATA_DIR / "fashion" / "styles.csv")))
DEMO_VISUAL_INDEX = Path(os.environ.get("VITRINE_VISUAL_INDEX", ARTIFACTS_DIR / "visual_index"))

# Tabular demo data (the data sets themselves are listed once, in shop/demos.py).
DEMO_MOVIELENS_RATINGS = DATA_DIR / "movielens" / "ratings.csv.gz"
DEMO_MOVIELENS_MOVIES = DATA_DIR / "movielens" / "movies.csv"
DEMO_ONLINE_RETAIL = DATA_DIR / "online_retail" / "online_retail_sample.csv.gz"
DEMO_SUPERSTORE = DATA_DIR / "superstore" / "superstore_sample.csv"
DEMO_BASKETS = DATA_DIR / "baskets" / "market_basket_optimisation.csv"

# Image embedding (embed/).
IMAGE_SIZE = 224  # ResNet50's native input
EMBEDDING_DIM = 2048  # ResNet50 last block channels, after global max pooling
# "imagenet" (Keras downloads and caches), a path to a local .h5 file, or "none"
# (random weights: tests and benchmarks only).
WEIGHTS = os.environ.get("VITRINE_WEIGHTS", "imagenet")
# auto (embed/precision.py: int8 where the CPU has int8 units and it passes a check against fp32
# on the catalogue's pictures, else bf16 where it has bf16 units, else fp32), fp32, bf16 or int8.
PRECISION = os.environ.get("VITRINE_PRECISION", "auto")
BATCH_SIZE = 32
# --precision int8 (embed/int8.py): catalogue pictures the quantisation is calibrated on.
INT8_CALIBRATION_IMAGES = 300
# `auto` tries int8 on catalogues of at least INT8_AUTO_MIN_IMAGES pictures: calibrating and the
# check (INT8_CHECK_IMAGES other pictures embedded in fp32 and int8) cost about a minute on 2
# cores, a quarter of what fp32 takes for 5,000 pictures, so a failed check never costs much
# more. It keeps int8 when the check meets the quality bar below (bench/embed_throughput.py's).
INT8_AUTO_MIN_IMAGES = 5_000
INT8_CHECK_IMAGES = 500
INT8_MIN_COSINE = 0.99
INT8_MIN_AGREEMENT = 0.95
# Vectors are flushed to disk every CHECKPOINT_EVERY images so a killed job resumes there.
CHECKPOINT_EVERY = 256
# Uploads larger than this are refused before decoding (bytes), and images with more pixels
# than this are refused as possible decompression bombs.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
# A table (orders, ratings, catalogue; a file or an upload) is refused past this many bytes once
# gzip or a workbook's zip is undone, counted while inflating (pandas needs about ten times it).
MAX_TABLE_BYTES = int(os.environ.get("VITRINE_MAX_TABLE_BYTES", 1 << 30))
# Catalogue images by URL (embed/fetch.py): requests in flight at once, seconds a whole fetch
# may take (connect, wait and read together), retries of a timeout, 429 or 5xx (with back-off).
FETCH_WORKERS = 8
FETCH_TIMEOUT_S = 15.0
FETCH_RETRIES = 2
# Hosts (name, *.domain), addresses or CIDR ranges a picture URL may reach although not public
# (a shop's own picture server on its network); everything else must resolve to public addresses.
FETCH_ALLOW = [part.strip() for part in os.environ.get("VITRINE_FETCH_ALLOW", "").split(",") if part.strip()]
# The folder whose picture files a catalogue uploaded in the app may name (relative paths start
# there; symlinks out of it are refused). Unset: such a catalogue's pictures must be http(s) URLs.
# A catalogue given on the command line may name files under its own folder (or --images-root).
IMAGES_ROOT = os.environ.get("VITRINE_IMAGES_ROOT") or None

# Nearest products.
TOP_K = 5
# From this many products `python -m embed build` (--index-type auto) also writes an approximate
# index (embed/ann.py) and search uses it. Measured (bench/visual_index_scale.py, 2 cores): exact
# search takes 33-56 ms a query at 100,000 products and grows linearly (546 ms at a million, with
# 7.6 GiB of vectors to page through), while the approximate index answers in 2-3 ms (through the
# result table) at a recall@5 of 0.98-0.999. Below this size exact search is instant enough, exact,
# and its vectors fit in memory.
APPROXIMATE_INDEX_FROM = 100_000
# The approximate index (see embed/ann.py and the README's table for how each was chosen): PCA
# dims, bytes of product-quantised code a product, inverted lists visited a query (of 4 sqrt(N)),
# candidates re-scored exactly against the float32 vectors, rows sampled to train PCA, the lists
# and the quantiser.
ANN_PCA_DIMS = 384
ANN_PQ_M = 64
ANN_NPROBE = 32
ANN_RERANK = 100
ANN_TRAIN_ROWS = 50_000

# The HTTP API (api/): how often a request checks whether an artifact was rebuilt (seconds), and
# where the hashes of its keys are kept (ignored by git).
API_POLL_SECONDS = float(os.environ.get("VITRINE_API_POLL_SECONDS", 5))
API_KEYS_FILE = Path(os.environ.get("VITRINE_API_KEYS", ROOT / "api_keys.toml"))

# Visual queries batched (embed/batcher.py): the photos waiting together go through the model in
# one forward pass of at most VISUAL_BATCH_MAX pictures (`python -m api --visual-batch-max`; 1 is
# one pass per photo), waiting at most VISUAL_BATCH_WAIT_MS for a batch to fill (never when a
# photo is alone); past VISUAL_QUEUE_MAX searches in at once a search is refused at once (the API's 503
# with Retry-After), and one that waited VISUAL_TIMEOUT_S seconds gives up.
def _env_number(name: str, default: float, kind=float, minimum: float = 0.0, above: bool = False):
    """A number from the environment, or a one-line error naming the variable and what it takes."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < minimum or (above and value == minimum):
        raise ValueError(f"${name} must be a {'whole ' if kind is int else ''}number "
                         f"{'above' if above else 'of at least'} {minimum:g}, not {text!r}.")
    return value


VISUAL_BATCH_MAX = _env_number("VITRINE_VISUAL_BATCH_MAX", 8, int, 1)
VISUAL_BATCH_WAIT_MS = _env_number("VITRINE_VISUAL_BATCH_WAIT_MS", 5.0)
# below the API's 40 worker threads (anyio's default): waiting searches never hold them all
VISUAL_QUEUE_MAX = _env_number("VITRINE_VISUAL_QUEUE_MAX", 32, int, 1)
VISUAL_TIMEOUT_S = _env_number("VITRINE_VISUAL_TIMEOUT_S", 30.0, float, 0, above=True)
