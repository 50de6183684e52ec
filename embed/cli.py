"""`python -m embed build ...` (catalogue -> visual index) and `python -m embed search ...`.

A user's mistake (`common.errors.USER_ERRORS`) is one line `error: ...` and exit status 2;
anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import settings
from common import verify_cli
from common.cli import run
from common.errors import InputError
from common.netguard import Allow
from common.spark import add_engine_arguments, check_engine_arguments
from embed.ann import INDEX_TYPES
from embed.build import build_index
from embed.fetch import Fetcher
from embed.images import ImageError
from embed.weights import MODEL_PRECISIONS, RANDOM_WEIGHTS_WARNING, parse_weights


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m embed", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="embed a catalogue of images into a visual index")
    b.add_argument("--images", type=Path, default=None,
                   help="folder of images named <product id>.<jpg|png|webp|heic|avif...>, or the folder the "
                        "catalogue's relative image paths start from (default: the demo catalogue, or the "
                        "catalogue's own folder when it has an 'image' column)")
    b.add_argument("--catalogue", "--catalog", type=Path, default=None,
                   help="CSV with an 'id' column and product metadata, and optionally an 'image' column of "
                        "files or http(s) URLs (default: the demo styles.csv when --images is the demo folder)")
    b.add_argument("--out", type=Path, default=settings.DEMO_VISUAL_INDEX, help="index folder to write")
    _model_args(b)
    b.add_argument("--batch-size", type=int, default=settings.BATCH_SIZE)
    b.add_argument("--limit", type=int, default=None, help="embed only the first N images (by id)")
    b.add_argument("--checkpoint-every", type=int, default=settings.CHECKPOINT_EVERY,
                   help="save progress every N images so a killed job resumes there (with --engine spark: "
                        "the images of one task, its shard)")
    b.add_argument("--workers", type=int, default=None,
                   help="image decoding threads (with --engine spark: in each task)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--index-type", choices=INDEX_TYPES, default="auto",
                   help=f"exact search only, or also an approximate index (faster and smaller in memory for "
                        f"large catalogues, recall@5 ~0.97); auto: approximate from "
                        f"{settings.APPROXIMATE_INDEX_FROM:,} products")
    b.add_argument("--fetch-workers", type=int, default=settings.FETCH_WORKERS,
                   help="image URLs fetched at once")
    b.add_argument("--fetch-timeout", type=float, default=settings.FETCH_TIMEOUT_S,
                   help="seconds one image URL may take (retried on timeouts, 429 and 5xx)")
    b.add_argument("--allow-fetch-host", action="append", default=[], metavar="HOST|CIDR",
                   help="a host (pictures.shop.lan, *.shop.lan), address or range (10.1.0.0/16) image URLs may "
                        "reach although not public; repeatable. Everything else must resolve to public "
                        "addresses. Env: VITRINE_FETCH_ALLOW (comma-separated)")
    b.add_argument("--images-root", type=Path, default=None, metavar="DIR",
                   help="the folder picture files must lie in, symlinks followed (default: the images folder, "
                        "which is the catalogue's own folder when it has an 'image' column); a file outside "
                        "is skipped unread")
    add_engine_arguments(b, "local: this machine's cores (the default); spark: Apache Spark tasks, one a shard of "
                            "--checkpoint-every images, for catalogues larger than one machine embeds in time "
                            "(the same vectors)")

    s = sub.add_parser("search", help="the k nearest catalogue products to each image")
    s.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    s.add_argument("--index", type=Path, default=settings.DEMO_VISUAL_INDEX)
    s.add_argument("-k", type=int, default=settings.TOP_K)
    s.add_argument("--include-self", action="store_true",
                   help="keep a catalogue product that is the very same file as the query")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--precision", choices=list(MODEL_PRECISIONS), default=None,
                   help="the index's own (default); another is refused, since the vectors would not be comparable")

    v = sub.add_parser("verify", help="check every file of visual indexes against their manifests")
    verify_cli.add_arguments(v)
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="imagenet (default; Keras downloads and caches it), a local .h5 path, or none "
                        "(random weights: tests only). Env: VITRINE_WEIGHTS")
    p.add_argument("--precision", choices=["auto", *MODEL_PRECISIONS], default=None,
                   help="auto (default: the index's own when it is updated; else, on catalogues of "
                        f"{settings.INT8_AUTO_MIN_IMAGES:,}+ pictures, int8 if it passes a check against fp32 on "
                        f"{settings.INT8_CHECK_IMAGES} of them; else bf16 on CPUs with bf16 units, else fp32), fp32, "
                        "bf16 or int8 (OpenVINO, quantised on catalogue pictures: ~9x the images/s here). "
                        "Env: VITRINE_PRECISION")


def _build(args) -> int:
    weights = parse_weights(args.weights)
    if weights.kind == "none":
        print(RANDOM_WEIGHTS_WARNING, file=sys.stderr)
    catalogue, images = args.catalogue, args.images
    if images is None and catalogue is None:
        images = settings.DEMO_FASHION_IMAGES
    if catalogue is None and images is not None and Path(images).resolve() == settings.DEMO_FASHION_IMAGES.resolve():
        catalogue = settings.DEMO_FASHION_CATALOGUE
    check_engine_arguments(args)
    allow = Allow.parse([*settings.FETCH_ALLOW, *args.allow_fetch_host])
    if args.engine == "spark":
        from embed.spark import build_index_on_spark  # PySpark loads only for this engine

        report = build_index_on_spark(images, args.out, catalogue=catalogue, weights=weights,
                                      precision=args.precision, batch_size=args.batch_size, limit=args.limit,
                                      checkpoint_every=args.checkpoint_every, workers=args.workers,
                                      progress=not args.quiet, rebuild=args.command_line,
                                      index_type=args.index_type, fetch_workers=args.fetch_workers,
                                      fetch_timeout=args.fetch_timeout, master=args.spark_master,
                                      conf=args.spark_conf, fetch_allow=allow, images_root=args.images_root)
    else:
        with Fetcher(workers=args.fetch_workers, timeout=args.fetch_timeout, allow=allow) as fetcher:
            report = build_index(images, args.out, catalogue=catalogue, weights=weights,
                                 precision=args.precision, batch_size=args.batch_size, limit=args.limit,
                                 checkpoint_every=args.checkpoint_every, workers=args.workers,
                                 progress=not args.quiet, rebuild=args.command_line, fetcher=fetcher,
                                 index_type=args.index_type, images_root=args.images_root)
    print(f"Wrote {report.count} vectors to {report.out} ({report.embedded} embedded, "
          f"{report.reused} reused, {len(report.skipped)} skipped) in {report.seconds:.1f} s"
          + (f", {report.images_per_second:.1f} images/s" if report.embedded else "") + ".")
    for s in report.skipped[:10]:
        print(f"  skipped {s.get('url') or s.get('file')}: {s['reason']}", file=sys.stderr)
    if len(report.skipped) > 10:
        print(f"  ... and {len(report.skipped) - 10} more (listed in manifest.json)", file=sys.stderr)
    return 0


def _search(args) -> int:
    from embed.query import QueryEngine

    engine = QueryEngine.open(args.index, precision=args.precision)
    if engine.weights.kind == "none":
        print(RANDOM_WEIGHTS_WARNING, file=sys.stderr)
    answers, failed = [], 0
    for path in args.images:
        try:
            hits = engine.search(path, k=args.k, include_self=args.include_self)
        except ImageError as exc:
            failed += 1
            print(f"error: {path}: {exc}", file=sys.stderr)
            continue
        answers.append((path, hits))
    if args.json:
        print(json.dumps([{"query": str(p), "results": _records(h)} for p, h in answers], indent=2))
    else:
        for path, hits in answers:
            print(path)
            for row in _records(hits):
                name = row.get("productDisplayName") or ""
                kind = row.get("articleType")
                print(f"  {row['rank']:>2}  {row['id']:<12} {row['score']:.4f}  {name}"
                      + (f" ({kind})" if kind else ""))
    return 1 if failed else 0


def _records(hits) -> list[dict]:
    keep = [c for c in hits.columns if c not in ("file", "sha256", "etag", "last_modified")]
    table = hits[keep].astype(object).where(hits[keep].notna(), None)
    return table.to_dict(orient="records")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.command_line = shlex.join(["python", "-m", "embed", *argv])  # recorded as the rebuild command
    commands = {"build": _build, "search": _search, "verify": verify_cli.run}
    return run(lambda: commands[args.command](args),
               interrupted="Interrupted. Finished chunks are kept: run the same command again to resume.")
