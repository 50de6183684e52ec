"""Where the app's memory goes: resident memory of one `streamlit run` process on 127.0.0.1
(demo data, a visual index of the first 60 demo products with random weights) as a visitor
opens every page and then runs 20 visual queries, read from /proc after each step; then the
same figures for the libraries alone, imported one by one in a fresh interpreter.

    python bench/app_memory.py [--queries 20]

Talks to 127.0.0.1 only, over Streamlit's websocket protocol (bench/soak.py's Session), so no
browser's memory is mixed in. The README's figure comes from here.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from machine import describe  # bench/machine.py, beside this script
from soak import IMAGES, ROOT, Session

PAGES = ["", "basket-rules", "similar-products", "similar-customers", "similar-movies"]
LIBRARIES = ["streamlit", "pandas", "pyarrow", "scipy.sparse", "sklearn", "numba", "altair", "PIL", "tensorflow"]


def status(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def library_costs() -> list[tuple[str, float]]:
    probe = ("import importlib, sys\n"
             "def rss(): return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024\n"
             "for name in sys.argv[1:]:\n"
             "    before = rss(); importlib.import_module(name); print(name, rss() - before)\n")
    out = subprocess.run([sys.executable, "-c", probe, *LIBRARIES], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    return [(line.split()[0], float(line.split()[1])) for line in out.splitlines() if line.strip()]


async def visit(base: str, pid: int, queries: int) -> list[tuple[str, float]]:
    steps = []
    session = Session(base)
    await session.open()
    steps.append(("home page (model and index loaded)", status(pid, "VmRSS"), status(pid, "VmHWM")))
    for page in PAGES[1:]:
        await session.rerun([], page=page)
        steps.append((f"+ {page}", status(pid, "VmRSS"), status(pid, "VmHWM")))
    await session.rerun([])
    images = sorted(IMAGES.glob("*.jpg"))[:queries]
    for image in images:
        await session.visual_query(image)
    steps.append((f"+ {len(images)} visual queries", status(pid, "VmRSS"), status(pid, "VmHWM")))
    await session.ws.close()
    return steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=20)
    args = p.parse_args()
    print(describe(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="vitrine-memory-"))
    index = work / "artifacts" / "visual_index"
    subprocess.run([sys.executable, "-m", "embed", "build", "--limit", "60", "--weights", "none", "--out", str(index),
                    "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VITRINE_WEIGHTS": "none", "VITRINE_ARTIFACTS": str(work / "artifacts"),
           "VITRINE_VISUAL_INDEX": str(index)}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true",
                               "--server.fileWatcherType", "none", "--server.enableXsrfProtection", "false"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        started = status(server.pid, "VmRSS")
        steps = asyncio.run(visit(base, server.pid, args.queries))
        anon, files, peak = (status(server.pid, f) for f in ("RssAnon", "RssFile", "VmHWM"))
    finally:
        server.terminate()
        server.wait(30)
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
