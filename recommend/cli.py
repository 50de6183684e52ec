"""`python -m recommend <command> ...`: one sub-command per recommender.

Each recommender's command lives in its own module `recommend/cli_<name>.py`, which defines
`register(subparsers)`; the parser adds a sub-command whose `func(args) -> int` runs it. Modules
are found by name, so adding a recommender never edits this file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from recommend.artifacts import ArtifactError


class InputError(ValueError):
    """A user's input (file, columns, id, threshold) cannot be used; the message says why."""


USER_ERRORS = (ArtifactError, InputError, FileNotFoundError, KeyError)


def command_modules() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(f"recommend.{m.name}" for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("cli_"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recommend", description="Build and query Vitrine's recommenders.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
