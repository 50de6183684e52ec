"""The HTTP API under load, on 127.0.0.1 only, bounded in count and time.

    python bench/api_load.py [--lookups 20000] [--connections 16] [--posts 100]

Starts `python -m api` (demo sets; a 60-product visual index with random weights; one key without
a rate limit), then: `--lookups` GETs alternating /v1/next-to and /v1/similar-products over the
demo items and products at `--connections` keep-alive connections; `--posts` visual-search POSTs
one at a time, then at 4 at once. Prints requests/s, p50/p95/p99, errors and the server's memory,
beside one forward pass of the same model measured in the same run (the floor of a visual search).

The load generator is a minimal asyncio HTTP/1.1 client written here: measured, httpx's async
client spends more CPU per request than the server does, and on 2 cores that would measure the
client, not the API.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.app_server import ROOT, bench_index, free_port  # noqa: E402
from bench.harness import describe  # noqa: E402


async def _request(reader, writer, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _run(host: str, port: int, requests: list[bytes], connections: int) -> tuple[list[float], int, float]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = 0

    async def worker():
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while queue:
            raw = queue.pop()
            started = time.perf_counter()
            status = await _request(reader, writer, raw)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors, time.perf_counter() - started


def _get(path: str, params: dict, host: str, key: str) -> bytes:
    query = urllib.parse.urlencode(params)
    return (f"GET {path}?{query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n").encode()


def _post_image(data: bytes, host: str, key: str) -> bytes:
    boundary = "vitrinebench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return (f"POST /v1/visual-search HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _summary(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    ms = np.array(latencies) * 1000
    return (f"{name}: {len(ms):,} requests in {seconds:.1f} s = {len(ms) / seconds:,.0f} requests/s; "
            f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms; "
            f"errors {errors}")


_FORWARD = """
import json, sys, time, numpy as np
from embed.model import Embedder
from embed.images import decode, model_input
e = Embedder("none", "fp32"); e.warm_up()
x = model_input(decode(open(sys.argv[1], "rb").read(), draft=224))[None]
for _ in range(3): e.embed_batch(x)
t = []
for _ in range(30):
    s = time.perf_counter(); e.embed_batch(x); t.append(time.perf_counter() - s)
print(json.dumps({"p50": float(np.median(t))}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookups", type=int, default=20_000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--posts", type=int, default=100)
    args = p.parse_args()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_api_"))
    index = bench_index(work)
    keys = work / "keys.toml"
    key = subprocess.run([sys.executable, "-m", "api", "add-key", "--name", "bench", "--rate", "0",
                          "--keys-file", str(keys)], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    env = {**os.environ, "VITRINE_WEIGHTS": "none", "VITRINE_VISUAL_INDEX": str(index),
           "VITRINE_ARTIFACTS": str(work / "artifacts")}
    server = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--artifacts", str(work / "artifacts"),
                               "--keys-file", str(keys)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, host = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < 300:
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.25)
        print(f"API ready in {time.perf_counter() - started:.1f} s (every demo set loaded, model warm)")
        from shop.registry import Registry

        items = list(Registry().get("groceries").baskets().items)
        lines, columns = Registry().get("superstore").order_lines()
        products = lines[columns.item].unique()
        rng = np.random.default_rng(0)
        requests = [_get("/v1/next-to", {"item": items[rng.integers(len(items))]}, host, key) if i % 2 == 0 else
                    _get("/v1/similar-products", {"id": products[rng.integers(len(products))]}, host, key)
                    for i in range(args.lookups)]
        latencies, errors, seconds = asyncio.run(_run("127.0.0.1", port, requests, args.connections))
        print(_summary(f"lookups (next-to + similar-products) at {args.connections} connections", latencies, errors,
                       seconds) + "  (target >= 1,000 requests/s, p99 <= 30 ms)")

        images = sorted((ROOT / "data" / "fashion" / "images").glob("*.jpg"))[:20]
        forward = json.loads(subprocess.run([sys.executable, "-c", _FORWARD, str(images[0])], cwd=ROOT, env=env,
                                            check=True, capture_output=True, text=True).stdout)["p50"]
        posts = [_post_image(images[i % len(images)].read_bytes(), host, key) for i in range(args.posts)]
        one, errors1, s1 = asyncio.run(_run("127.0.0.1", port, posts, 1))
        four, errors4, s4 = asyncio.run(_run("127.0.0.1", port, posts, 4))
        p50 = float(np.median(one))
        print(_summary("visual search, one at a time", one, errors1, s1) +
              f"; one forward pass p50 {forward * 1000:.1f} ms; ratio {p50 / forward:.2f}x (target <= 1.2x)")
        print(_summary("visual search, 4 at once", four, errors4, s4))
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines()
               if line.startswith(("VmRSS", "VmHWM"))}
        print(f"API server memory: {rss['VmRSS']:.0f} MB resident, {rss['VmHWM']:.0f} MB peak")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
