"""How good each recommender is on a data set named in the registry (a demo set or a workspace):
the data read through its one door, evaluated by recommend.quality.evaluation, written where the
app's "How good is this?" sections look for it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.errors import InputError
from recommend.quality import evaluation
from recommend.quality.evaluation import PARTS, Evaluation, Step
from shop.registry import Registry


def parts_of(dataset: str, artifacts: Path | None = None) -> list[str]:
    """The parts of a data set that can be evaluated."""
    found = _get(dataset, None, artifacts)
    parts = [p for p in PARTS if p in found.parts]
    if not parts:
        raise InputError(f"Data set {dataset} has none of {', '.join(PARTS)} to evaluate.")
    return parts


def _get(dataset: str, part: str | None, artifacts: Path | None):
    try:
        return Registry(artifacts).get(dataset, part)
    except LookupError as exc:
        what = f" with {part.replace('_', ' ')}" if part else ""
        raise InputError(f"No data set {dataset!r}{what}: {str(exc).strip(chr(39))}. Name a demo set or a workspace "
                         "built with python -m recommend build.") from None


def data_for(part: str, dataset: str, artifacts: Path | None = None) -> tuple[pd.DataFrame, object, Path, dict]:
    """(data, columns, evaluation folder, what was evaluated) of a demo set or a workspace."""
    if part not in PARTS:
        raise InputError(f"part must be one of {', '.join(PARTS)}, not {part!r}.")
    found = _get(dataset, part, artifacts)
    ws = found.workspace
    folder = evaluation.folder_for(part, found.name, ws.folder if ws is not None else None)
    about = ({"dataset": found.name, "file": str(found.demo.path)} if ws is None
             else {"dataset": found.name, "workspace_created": ws.manifest.get("created")})
    if part == "similar_products":
        lines, columns = found.order_lines()
        return lines, columns, folder, about
    if part == "similar_customers":
        purchases = found.purchases()
        return purchases.table, purchases.cols, folder, about
    return found.ratings()[0], None, folder, about


def evaluate_dataset(part: str, dataset: str, *, artifacts: Path | None = None, step: Step | None = None,
                     rebuild: str | None = None) -> tuple[Evaluation, Path]:
    """Evaluate `part` on a demo set or a workspace; (the result, the artifact folder written)."""
    data, columns, folder, about = data_for(part, dataset, artifacts)
    result = evaluation.run(part, data, columns=columns, step=step, about=about)
    return result, evaluation.write(result, folder, rebuild)
