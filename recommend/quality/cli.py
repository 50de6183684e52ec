"""`python -m recommend evaluate`: how good each recommender is on a demo set or a workspace,
held out by time; prints the table and writes the evaluation artifact the app's pages read."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import settings
from common.errors import InputError
from recommend.quality import evaluation

FLAG_PARTS = {part.replace("_", "-"): part for part in evaluation.PARTS}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Evaluate similar products, similar customers and similar items on held-out data (split by "
                     "time), against popularity and the earlier default, and write the evaluation artifact "
                     "that each page's \"How good is this?\" section shows.")
    p.add_argument("--part", choices=[*FLAG_PARTS, "all"], default="all",
                   help="which recommender to evaluate (default: every one the data set has)")
    p.add_argument("--dataset", "--name", dest="dataset", required=True,
                   help="a workspace's name (python -m recommend build --name) or a demo set: "
                        + ", ".join(sorted({d for ds in evaluation.DEMOS.values() for d in ds})))
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR,
                   help=f"where workspaces live (default {settings.ARTIFACTS_DIR})")


def _parts(dataset: str, artifacts: Path, chosen: str) -> list[str]:
    if chosen != "all":
        return [FLAG_PARTS[chosen]]
    demo = [part for part, sets in evaluation.DEMOS.items() if dataset in sets]
    if demo:
        return demo
    from recommend.workspace.model import open_workspace

    parts = [p for p in evaluation.PARTS if p in open_workspace(dataset, artifacts).parts]
    if not parts:
        raise InputError(f"Workspace {dataset} has none of {', '.join(evaluation.PARTS)} to evaluate.")
    return parts


def run(args) -> int:
    for part in _parts(args.dataset, args.artifacts, args.part):
        shown = [0.0]

        def step(what: str, share: float) -> None:
            if share >= shown[0]:
                shown[0] = share
                print(f"[{share:4.0%}] {part.replace('_', ' ')}: {what}", file=sys.stderr, flush=True)

        result, folder = evaluation.evaluate_dataset(part, args.dataset, artifacts=args.artifacts, step=step,
                                             rebuild=args.command_line)
        print(f"== {part.replace('_', ' ')} on {args.dataset} ==")
        print(result.split)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(result.table.round(4).to_string(index=False))
        print(f"default / earlier default, NDCG@10: {result.ratio():.2f}x; written to {folder}\n")
    return 0
