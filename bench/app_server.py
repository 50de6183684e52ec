"""The app as the UI benchmarks run it: a visual index of the first 60 demo products with random
weights (built in a few seconds, no download) and one `streamlit run` on a free port of
127.0.0.1, on fresh artifacts; stopped at the end. Shared by soak.py, ui_latency.py and
app_memory.py (and the Chromium flags, the index and a free port, for the other benchmarks)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_PRODUCTS = 60


@dataclass
class App:
    base: str  # http://127.0.0.1:<port>
    process: subprocess.Popen
    index: Path
    startup_seconds: float  # from launch until the server answered its health check

    def memory_mb(self, field: str = "VmRSS") -> float:
        """A /proc/<pid>/status figure of the server (VmRSS, VmHWM, RssAnon, RssFile), in MB."""
        with open(f"/proc/{self.process.pid}/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_index(work: Path) -> Path:
    """The bench's visual index (the first BENCH_PRODUCTS demo products, random weights) under work/artifacts."""
    index = work / "artifacts" / "visual_index"
    subprocess.run([sys.executable, "-m", "embed", "build", "--limit", str(BENCH_PRODUCTS), "--weights", "none",
                    "--out", str(index), "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return index


@contextmanager
def app_server(prefix: str, *, xsrf: bool = True):
    """Build the bench index in a temporary folder, start the app on it, yield an App."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    index = bench_index(work)
    port = free_port()
    env = {**os.environ, "VITRINE_WEIGHTS": "none", "VITRINE_ARTIFACTS": str(work / "artifacts"),
           "VITRINE_VISUAL_INDEX": str(index)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--server.enableXsrfProtection", str(xsrf).lower()],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(480):
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        yield App(base, process, index, time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(30)
