"""`python -m recommend <command> ...`: one sub-command per recommender, listed here.

Only the chosen command's module is imported (its recommender, pandas, numba...), so `--help` and
every command start fast. Each module defines `add_arguments(parser)` and `run(args) -> int`.
How a run ends (one line for a user's error, quiet on a closed pipe, a traceback for a bug) is
common.cli's, shared with `python -m embed`.
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from common.cli import run
from common.errors import InputError
from common.redact import redact_command

# name: (module, one-line help). Adding a recommender adds a line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "rules": ("recommend.rules.cli",
              "frequent itemsets, association rules and a 'show next to X' lookup from baskets"),
    "similar-products": ("recommend.similar_products.cli",
                         "products similar to each product (bought in the same orders)"),
    "similar-customers": ("recommend.similar_customers.cli", "customers who buy alike, and what to recommend"),
    "similar-movies": ("recommend.similar_movies.cli", "movies similar to each movie (item k-NN, cosine)"),
    "build": ("recommend.workspace.cli",
              "a shop's orders (file or database) into a workspace of every recommender, for the app"),
    # the one command that opens data sets by name: its module sits above recommend/, with the registry
    "evaluate": ("shop.evaluate_cli",
                 "how good similar products, customers and items are on held-out data, for the app's pages"),
    "export": ("recommend.workspace.export",
               "a workspace's lists into SQL tables of the shop's database, for its back end to serve"),
    "verify": ("common.verify_cli", "check every file of built artifacts against their manifests (size, digest, rows)"),
}


def add_from(p: argparse.ArgumentParser, query_flag: str) -> None:
    """`--from DIR`: answer `query_flag` from an artifact built earlier (with --out), without rebuilding."""
    p.add_argument("--from", dest="artifact", type=Path, default=None, metavar="DIR",
                   help=f"answer {query_flag} from the artifact folder built earlier with --out (no rebuild)")


def require_query(args, value, query_flag: str) -> None:
    """With --from, a query is what there is to do."""
    if args.artifact is not None and value is None:
        raise InputError(f"--from {args.artifact} answers one query: give {query_flag} too.")


def parser(argv: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recommend", description="Build and query Vitrine's recommenders.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(func=module.run)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser(argv).parse_args(argv)
    # recorded as the rebuild command, so without secrets (a password in --orders-sql's URL)
    args.command_line = shlex.join(redact_command(["python", "-m", "recommend", *argv]))
    return run(lambda: args.func(args))
