"""`python -m api [--host 127.0.0.1] [--port 8000] [--artifacts DIR] [--keys-file PATH] [--cors-origin URL ...]
[--workers N] [--docs] [--no-auth]` serves the API with uvicorn; `python -m api add-key --name NAME
--scope read|admin [--rate N] [--datasets A,B] [--token-file PATH] [--if-missing]` makes a key,
`remove-key --name NAME` removes one, `list-keys` lists them (never their hashes).

It starts closed: on an address other than loopback it refuses to start without a usable key, and
every /v1 request needs one; `--no-auth` is for development on this machine only."""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import tempfile
from pathlib import Path

import settings
from common.cli import run
from common.errors import InputError

WORKER_PING_S = 120  # --workers: how long a worker may not answer uvicorn's supervisor before it is replaced


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m api", description="Serve Vitrine's answers over HTTP.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container, behind TLS)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR, help="the artifact folders and workspaces")
    p.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE,
                   help=f"the keys' hashes (default {settings.API_KEYS_FILE.name}); read again when it changes")
    p.add_argument("--cors-origin", action="append", default=[], metavar="URL",
                   help="a web shop's origin allowed to call from browsers, e.g. https://shop.example.com (repeat; none by default)")
    p.add_argument("--poll-seconds", type=float, default=settings.API_POLL_SECONDS,
                   help="how often a rebuilt artifact is looked for")
    p.add_argument("--no-visual", action="store_true", help="do not load the image model at start (no visual search)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (each loads the artifacts)")
    p.add_argument("--visual-batch-max", type=int, default=settings.VISUAL_BATCH_MAX, metavar="N",
                   help="photos that share one forward pass of the image model, at most (1: one pass per photo; "
                        f"default {settings.VISUAL_BATCH_MAX}, or $VITRINE_VISUAL_BATCH_MAX); each waits at most "
                        "$VITRINE_VISUAL_BATCH_WAIT_MS for others, never when alone")
    p.add_argument("--docs", action="store_true", help="serve /docs and /openapi.json (off by default)")
    p.add_argument("--no-auth", action="store_true",
                   help="no key needed: development on this machine only (loopback; never through a proxy)")
    sub = p.add_subparsers(dest="command")
    k = sub.add_parser("add-key", help="make a key, print it once (or write it to --token-file), store its hash")
    k.add_argument("--name", required=True)
    k.add_argument("--scope", choices=("read", "admin"), default="read")
    k.add_argument("--rate", type=float, default=50, help="requests per second for this key (0: no limit)")
    k.add_argument("--datasets", default=None, metavar="A,B",
                   help="the data sets this key may read (default: every data set)")
    k.add_argument("--token-file", type=Path, default=None,
                   help="write the key to this new file (mode 0600) instead of printing it")
    k.add_argument("--if-missing", action="store_true", help="do nothing when a key of this name exists")
    k.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE, dest="sub_keys_file")
    r = sub.add_parser("remove-key", help="remove a key (the server stops accepting it within a second)")
    r.add_argument("--name", required=True)
    r.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE, dest="sub_keys_file")
    ls = sub.add_parser("list-keys", help="the keys' names, scopes, rates and data sets (never their hashes)")
    ls.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE, dest="sub_keys_file")
    return p


def _add_key(args) -> int:
    from api.keys import add_key, check_datasets, check_name, read_keys

    check_name(args.name)
    datasets = check_datasets(args.datasets)
    if args.if_missing and args.name in {k.name for k in read_keys(args.sub_keys_file)}:
        print(f"Key {args.name!r} exists in {args.sub_keys_file}; left as it is.", file=sys.stderr)
        return 0
    out = None
    if args.token_file is not None:
        try:  # made before the key, so a key is never stored that nobody has
            out = os.open(args.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InputError(f"{args.token_file} exists; remove it or give another --token-file.") from None
        except OSError as exc:
            raise InputError(f"Cannot create {args.token_file}: {exc.strerror}.") from None
    try:
        token = add_key(args.sub_keys_file, args.name, args.scope, args.rate, datasets)
    except BaseException:
        if out is not None:
            os.close(out)
            os.unlink(args.token_file)
        raise
    reach = f"data sets {', '.join(datasets)}" if datasets else "every data set (limit it with --datasets)"
    if out is not None:
        with os.fdopen(out, "w") as f:
            f.write(token + "\n")
        where = f"written to {args.token_file} (mode 0600)"
    else:
        print(token)
        where = "printed above; this is the only time it is shown"
    print(f"Key {args.name!r} ({args.scope}, {args.rate:g} requests/s, reads {reach}) stored as a hash in "
          f"{args.sub_keys_file}; the key is {where}.", file=sys.stderr)
    return 0


def _remove_key(args) -> int:
    from api.keys import remove_key

    remove_key(args.sub_keys_file, args.name)
    print(f"Key {args.name!r} removed from {args.sub_keys_file}; a running API stops accepting it within a second.",
          file=sys.stderr)
    return 0


def _list_keys(args) -> int:
    from api.keys import read_keys

    keys = read_keys(args.sub_keys_file)
    if not keys:
        print(f"No keys in {args.sub_keys_file}.", file=sys.stderr)
    for key in keys:
        reach = ",".join(key.datasets) if key.datasets else "*"
        print(f"{key.name}\t{key.scope}\t{key.rate:g}/s\t{reach}")
    return 0


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(args) -> int:
    import uvicorn

    from api.app import SERVE_ENV, create_app
    from api.metrics import MULTIPROC_ENV
    from api.keys import KeyFile
    from api.store import Store

    if args.workers < 1:
        raise InputError(f"--workers must be 1 or more, not {args.workers}.")
    if args.visual_batch_max < 1:
        raise InputError(f"--visual-batch-max must be 1 or more (1: one forward pass per photo), "
                         f"not {args.visual_batch_max}.")
    if args.no_auth and not loopback(args.host):
        raise InputError(f"--no-auth serves this machine only; it cannot listen on {args.host}. "
                         "Make a key with python -m api add-key --name NAME and serve with keys.")
    keys = KeyFile(args.keys_file)  # a malformed file stops here, naming the entry
    if not args.no_auth and not keys.required:
        if not loopback(args.host):
            raise InputError(f"No keys in {args.keys_file}: the API would be open on {args.host}. Make one with "
                             f"python -m api add-key --name shop-front --keys-file {args.keys_file}, then start again.")
        print(f"No keys in {args.keys_file} yet: every /v1 request is refused until one is made with "
              "python -m api add-key (taken up without a restart), or use --no-auth on this machine.",
              file=sys.stderr)
    warm = ("rules", "products", "customers", "items") + (() if args.no_visual else ("visual",))
    if args.workers > 1:  # each worker process builds its own app (uvicorn needs an import string)
        with tempfile.TemporaryDirectory(prefix="vitrine-api-") as shared:  # 0700: the workers' rate buckets
            os.environ[SERVE_ENV] = json.dumps({
                "artifacts": str(args.artifacts), "keys_file": str(args.keys_file), "origins": args.cors_origin,
                "poll_seconds": args.poll_seconds, "warm": list(warm), "no_auth": args.no_auth, "docs": args.docs,
                "visual_batch_max": args.visual_batch_max,
                "buckets": str(Path(shared) / "rate-buckets")})
            (Path(shared) / "metrics").mkdir()  # every worker's counts, added up by /metrics (api/metrics.py)
            os.environ[MULTIPROC_ENV] = str(Path(shared) / "metrics")
            # uvicorn's supervisor kills a worker that misses its 5 s ping (and starts another, which
            # loads everything again): loading a shop's similar customers fits EASE, whose inverse
            # holds the GIL for seconds on 2 cores (scipy.linalg.inv), and a worker killed for that
            # restarted for ever (tests/security/test_api.py). A hung worker still goes, later; while
            # the supervisor waits on it, it neither replaces a crashed worker nor handles a signal.
            uvicorn.run("api.app:from_environment", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_level="warning", timeout_worker_healthcheck=WORKER_PING_S)
        return 0
    store = Store(args.artifacts, poll_seconds=args.poll_seconds, visual_batch_max=args.visual_batch_max)
    app = create_app(store, keys, args.cors_origin, warm=warm, no_auth=args.no_auth, docs=args.docs)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    commands = {"add-key": _add_key, "remove-key": _remove_key, "list-keys": _list_keys}
    return run(lambda: commands.get(args.command, _serve)(args))
