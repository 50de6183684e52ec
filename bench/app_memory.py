"""Where the app's memory goes: resident memory of one `streamlit run` process on 127.0.0.1
(demo data, a visual index of the first 60 demo products with random weights) as a visitor
opens every page and then runs 20 visual queries, read from /proc after each step; then the
same figures for the libraries alone, imported one by one in a fresh interpreter.

    python bench/app_memory.py [--queries 20]

Talks to 127.0.0.1 only, over Streamlit's websocket protocol (bench/soak.py's Session), so no
browser's memory is mixed in. The figure in docs/benchmarks.md comes from here.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

from harness import describe  # bench/harness.py, beside this script
from app_server import App, app_server
from soak import IMAGES, ROOT, Session

PAGES = ["", "basket-rules", "similar-products", "similar-customers", "similar-movies"]
LIBRARIES = ["streamlit", "pandas", "pyarrow", "scipy.sparse", "sklearn", "numba", "altair", "PIL", "tensorflow"]


def library_costs() -> list[tuple[str, float]]:
    probe = ("import importlib, sys\n"
             "def rss(): return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024\n"
             "for name in sys.argv[1:]:\n"
             "    before = rss(); importlib.import_module(name); print(name, rss() - before)\n")
    out = subprocess.run([sys.executable, "-c", probe, *LIBRARIES], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    return [(line.split()[0], float(line.split()[1])) for line in out.splitlines() if line.strip()]


async def visit(app: App, queries: int) -> list[tuple[str, float, float]]:
    steps = []
    session = Session(app.base)
    await session.open()
    steps.append(("home page (model and index loaded)", app.memory_mb(), app.memory_mb("VmHWM")))
    for page in PAGES[1:]:
        await session.rerun([], page=page)
        steps.append((f"+ {page}", app.memory_mb(), app.memory_mb("VmHWM")))
    await session.rerun([])
    images = sorted(IMAGES.glob("*.jpg"))[:queries]
    for image in images:
        await session.visual_query(image)
    steps.append((f"+ {len(images)} visual queries", app.memory_mb(), app.memory_mb("VmHWM")))
    await session.ws.close()
    return steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=20)
    args = p.parse_args()
    print(describe(), flush=True)
    with app_server("vitrine-memory-", xsrf=False) as app:  # protocol clients upload without a cookie
        started = app.memory_mb()
        steps = asyncio.run(visit(app, args.queries))
        anon, files, peak = (app.memory_mb(f) for f in ("RssAnon", "RssFile", "VmHWM"))
    print(f"{'app process, resident memory (MB)':44} {'now':>7} {'peak so far':>12}")
    print(f"{'server started (no page yet)':44} {started:7.0f}")
    for label, mb, high in steps:
        print(f"{label:44} {mb:7.0f} {high:12.0f}")
    print(f"{'at the end: anonymous / file-backed':44} {anon:7.0f} / {files:.0f}")
    print(f"{'peak (VmHWM)':44} {peak:7.0f}")
    print("libraries alone, imported in turn in a fresh interpreter (MB each adds):")
    for name, mb in library_costs():
        print(f"  {name:14} {mb:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
