"""`verify DIR [DIR ...]`, a sub-command of both `python -m recommend` and `python -m embed`: every
file of each artifact checked against its manifest, digests of large files included (loading
checks those only up to a few MB, to keep memory-mapped indexes fast to open)."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.artifacts import verify
from common.errors import ArtifactError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.splitlines()[0].split(": ", 1)[1]
    p.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="artifact folders to check")


def run(args) -> int:
    damaged = 0
    for folder in args.folders:
        try:
            manifest = verify(folder)
        except ArtifactError as exc:
            damaged += 1
            print(f"DAMAGED {exc}")
            continue
        files = manifest["contents"]
        rows = sum(f.get("rows", 0) for f in files.values())
        print(f"OK {folder}: {manifest.get('kind')} (format {manifest.get('format_version')}), {len(files)} files, "
              f"{rows:,} rows; sizes, digests and rows match")
    return 1 if damaged else 0
