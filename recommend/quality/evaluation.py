"""One evaluation for the three interaction recommenders, on any table of order lines or ratings,
written as an artifact the app's "How good is this?" sections read (shop/evaluation.py evaluates
a data set by name, through the registry).

Each part is split by time and scored at 10 (HitRate, Precision, Recall, NDCG, MAP, Coverage,
recommend.core.evaluate) with popularity and the earlier default as baselines:
  similar_products   orders by date: the last 20% are the test; one product of each test order is
                     hidden and recommended back from the rest (recommend/similar_products/evaluation.py)
  similar_customers  purchases before a cut train; the products each returning customer first
                     bought after it are relevant (recommend/similar_customers/evaluation.py)
  similar_movies     each user's latest 20% of ratings are the test; those rated 4+ are relevant
                     (recommend/similar_movies/evaluation.py)
EASE's λ is always chosen on a validation split carved from the training data only (by HitRate@10
where one product an order is hidden, by NDCG@10 where a user holds out several: see each tuner).
Rows are matched to their roles by the model each names, never by a label.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import settings
from common.artifacts import library_versions, loading, utc_now, write_tables
from common.errors import InputError

KIND = "evaluation"
FORMAT_VERSION = 1
PARTS = ("similar_products", "similar_customers", "similar_movies")
METRICS = ["HitRate@10", "Precision@10", "Recall@10", "NDCG@10", "MAP@10", "Coverage@10"]
TABLE = "evaluation.csv"  # model, role, users, METRICS..., fit_s
ROLES = ("default", "earlier default", "baseline", "other")
Step = Callable[[str, float], None]


@dataclass
class Evaluation:
    part: str
    table: pd.DataFrame  # one row per model: model, role (ROLES), users, METRICS, fit_s
    manifest: dict  # split (a sentence), facts, the default model, the data evaluated

    @property
    def split(self) -> str:
        return self.manifest["split"]

    def ratio(self, metric: str = "NDCG@10") -> float:
        """The default model's `metric` over the earlier default's."""
        by_role = self.table.set_index("role")[metric]
        if not {"default", "earlier default"} <= set(by_role.index) or not by_role["earlier default"]:
            return float("nan")
        return float(by_role["default"] / by_role["earlier default"])


def rebuild_command(part: str, dataset: str) -> str:
    return f"python -m recommend evaluate --part {part.replace('_', '-')} --dataset {dataset}"


def folder_for(part: str, dataset: str, workspace_folder: Path | None = None) -> Path:
    """Where a data set's evaluation of `part` lives: inside the workspace (so a rebuild, which
    replaces the workspace, drops a stale evaluation) or under artifacts/evaluation/ for a demo set."""
    if part not in PARTS:
        raise InputError(f"part must be one of {', '.join(PARTS)}, not {part!r}.")
    if workspace_folder is not None:
        return Path(workspace_folder) / "evaluation" / part
    return Path(settings.ARTIFACTS_DIR) / "evaluation" / dataset / part


BASELINES = ("popularity", "random")


def _rows(table: pd.DataFrame, shown: dict[str, str], default: str, earlier: str, part: str) -> pd.DataFrame:
    """The rows of a recommender's own evaluation table in the shared layout, each with its role
    by the model it names (its `model` column, a registered name): the default, the earlier
    default, a baseline or another; `shown` names each on the page. A role the table lacks is an
    error, not a ratio of NaN."""
    def role(model: str) -> str:
        return ("default" if model == default else "earlier default" if model == earlier
                else "baseline" if model in BASELINES else "other")

    rows = table[table["model"].isin(list(shown))]
    missing = [r for r, m in (("default", default), ("earlier default", earlier)) if not (rows["model"] == m).any()]
    if not rows["model"].isin(BASELINES).any():
        missing.append("baseline")
    if missing:
        raise ValueError(f"The {part.replace('_', ' ')} evaluation has no row for the {', '.join(missing)} "
                         f"(models {default!r}, {earlier!r} and a baseline); it has {sorted(set(table['model']))}.")
    out = [{"model": shown[row["model"]], "role": role(row["model"]), "users": int(row["users"]),
            **{m: float(row[m]) for m in METRICS},
            "fit_s": float(row["fit_s"]) if "fit_s" in row and pd.notna(row["fit_s"]) else np.nan}
           for _, row in rows.iterrows()]
    return pd.DataFrame(out, columns=["model", "role", "users", *METRICS, "fit_s"])


def similar_products(lines: pd.DataFrame, columns, step: Step | None = None) -> tuple[pd.DataFrame, str, dict]:
    from recommend.similar_products.evaluation import evaluate_similar_products
    from recommend.similar_products.similarity import DEFAULT_SIMILARITY, EARLIER_DEFAULT

    table, facts = evaluate_similar_products(lines, columns, similarities=("jaccard", "cosine", "cooccurrence-cosine"),
                                             min_counts=(1,), ks=(10,), with_ease=True, step=step)
    table = table.rename(columns={"build_s": "fit_s"})
    lam = facts["ease_lambda"]
    rows = _rows(table, {
        "ease": f"EASE (λ={lam:g})", "ease-full-basket": f"EASE, whole basket (λ={lam:g})", "jaccard": "Jaccard",
        "cosine": "cosine", "cooccurrence-cosine": "the notebook's co-occurrence cosine",
        "popularity": "popularity", "random": "random"}, DEFAULT_SIMILARITY, EARLIER_DEFAULT, "similar_products")
    split = (f"Orders before {facts['test_cut'][:10]} ({facts['train_orders']:,}) trained the models; in each of "
             f"{facts['queries']:,} later orders one product was hidden and recommended back from the rest "
             f"of the order. EASE's λ={lam:g} was chosen on the last 20% of the training orders.")
    return rows, split, facts


def similar_customers(purchases: pd.DataFrame, cols, cut: str | None = None,
                      step: Step | None = None) -> tuple[pd.DataFrame, str, dict]:
    from recommend.similar_customers.evaluation import evaluate_customers
    from recommend.similar_customers.model import DEFAULT_MODEL, DEFAULT_NEIGHBOURS, EARLIER_DEFAULT

    if not cols.date or cols.date not in purchases.columns:
        raise InputError("Evaluating similar customers needs a date column to split purchases by time; "
                         "map one (--date-col) and rebuild.")
    table, facts = evaluate_customers(purchases, cut=cut, cols=cols, step=step)
    lam = facts["ease_lambda"]
    rows = _rows(table, {
        "ease": f"EASE (λ={lam:g})", "user-user": f"{DEFAULT_NEIGHBOURS} nearest customers",
        "item-item": "similar products of the history (cosine)", "popularity": "popularity"},
        DEFAULT_MODEL, EARLIER_DEFAULT, "similar_customers")
    split = (f"Purchases before {facts['cut']} trained the models; for the {facts['test_customers']:,} customers "
             f"who bought again after it, the products they bought for the first time then are the ones to "
             f"recommend. EASE's λ={lam:g} was chosen on the last 20% of the training purchases.")
    return rows, split, facts


def similar_movies(ratings: pd.DataFrame, step: Step | None = None) -> tuple[pd.DataFrame, str, dict]:
    from recommend.similar_movies.evaluation import evaluate_movies
    from recommend.similar_movies.model import DEFAULT_MODEL, EARLIER_DEFAULT, LIKED

    if "timestamp" not in ratings.columns:
        raise InputError("Evaluating similar items needs the ratings' time to hold out each user's latest "
                         "ratings; map a time column of the ratings and rebuild.")
    table, facts = evaluate_movies(ratings, step=step)
    lam = facts["ease_lambda"]
    rows = _rows(table, {"ease": f"EASE (λ={lam:g})", "item-knn": "item k-NN (cosine)", "popularity": "popularity"},
                 DEFAULT_MODEL, EARLIER_DEFAULT, "similar_movies")
    split = (f"Each user's latest 20% of ratings were held out ({facts['test_users']:,} users); the items they "
             f"rated {LIKED:g} or more there are the ones to recommend, from the rest of their ratings. "
             f"EASE's λ={lam:g} was chosen on each user's latest 20% of the training ratings.")
    return rows, split, facts


def run(part: str, data: pd.DataFrame, *, columns=None, step: Step | None = None, about: dict | None = None,
        cut: str | None = None) -> Evaluation:
    """Evaluate `part` on `data` (order lines with `columns` for the order parts, MovieLens-style
    ratings for similar_movies)."""
    if part == "similar_products":
        table, split, facts = similar_products(data, columns, step)
    elif part == "similar_customers":
        table, split, facts = similar_customers(data, columns, cut, step)
    elif part == "similar_movies":
        table, split, facts = similar_movies(data, step)
    else:
        raise InputError(f"part must be one of {', '.join(PARTS)}, not {part!r}.")
    manifest = {"part": part, "split": split, "facts": _plain(facts), "data": about or {}, "metrics": METRICS,
                "default": table.loc[table["role"] == "default", "model"].tolist(),
                "library_versions": library_versions("numpy", "scipy", "pandas"), "created": utc_now()}
    return Evaluation(part, table, manifest)


def _plain(value):
    """JSON-ready facts (numpy numbers and float keys become plain)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def write(result: Evaluation, out: Path, rebuild: str | None = None) -> Path:
    return write_tables(out, KIND, FORMAT_VERSION, result.manifest, {TABLE: result.table},
                        rebuild or rebuild_command(result.part, result.manifest["data"].get("dataset", "DATASET")))


def load(folder: Path, rebuild: str = "python -m recommend evaluate") -> Evaluation:
    with loading(folder, KIND, FORMAT_VERSION, rebuild) as art:
        return Evaluation(art.manifest["part"], art.table(TABLE), art.manifest)
