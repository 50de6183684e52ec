"""`python -m api [--host 127.0.0.1] [--port 8000] [--artifacts DIR] [--keys-file PATH] [--cors-origin URL ...]`
serves the API with uvicorn; `python -m api add-key --name NAME --scope read|admin [--rate N]` makes a key."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from common.cli import run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m api", description="Serve Vitrine's answers over HTTP.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--artifacts", type=Path, default=settings.ARTIFACTS_DIR, help="the artifact folders and workspaces")
    p.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE,
                   help=f"the keys' hashes (default {settings.API_KEYS_FILE.name}); with no keys there, no key is asked for")
    p.add_argument("--cors-origin", action="append", default=[], metavar="URL",
                   help="a web shop's origin allowed to call from browsers, e.g. https://shop.example.com (repeat; none by default)")
    p.add_argument("--poll-seconds", type=float, default=settings.API_POLL_SECONDS,
                   help="how often a rebuilt artifact is looked for")
    p.add_argument("--no-visual", action="store_true", help="do not load the image model at start (no visual search)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    sub = p.add_subparsers(dest="command")
    k = sub.add_parser("add-key", help="make a key, print it once, store its hash")
    k.add_argument("--name", required=True)
    k.add_argument("--scope", choices=("read", "admin"), default="read")
    k.add_argument("--rate", type=float, default=50, help="requests per second for this key (0: no limit)")
    k.add_argument("--keys-file", type=Path, default=settings.API_KEYS_FILE, dest="add_keys_file")
    return p


def _add_key(args) -> int:
    from api.keys import add_key

    token = add_key(args.add_keys_file, args.name, args.scope, args.rate)
    print(token)
    print(f"Key {args.name!r} ({args.scope}, {args.rate:g} requests/s) stored as a hash in {args.add_keys_file}; "
          "this is the only time it is shown.", file=sys.stderr)
    return 0


def _serve(args) -> int:
    import uvicorn

    from api.app import create_app
    from api.keys import Keys, read_keys
    from api.store import Store

    keys = Keys(read_keys(args.keys_file))
    if not keys.required:
        print(f"No keys in {args.keys_file}: every request is allowed. Make one with python -m api add-key.",
              file=sys.stderr)
    store = Store(args.artifacts, poll_seconds=args.poll_seconds)
    warm = ("rules", "products", "customers", "items") + (() if args.no_visual else ("visual",))
    app = create_app(store, keys, args.cors_origin, warm=warm)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run(lambda: _add_key(args) if args.command == "add-key" else _serve(args))
