"""Concurrent photos batched into one forward pass (embed/batcher.py) against one pass per photo
(`--visual-batch-max 1`), measured with wrk in one run, on 127.0.0.1.

    python bench/visual_batching.py [--seconds 15] [--connections 16] [--batch-max 8]

Starts `python -m api` twice on the bench's visual index (60 demo products, random weights; the
index's own precision), one with `--visual-batch-max 1`, one with `--batch-max`; then, for each,
POST /v1/visual-search of one demo photo with wrk: one connection (a photo at a time: batching
must not make it slower) and `--connections` at once (a crowd), while a second wrk asks
/healthz every 50 ms (a container's health check must not stall behind the photos).
Prints the index's precision, searches/s, p50/p99 of each, the batched server's mean batch size
from /metrics, the ratios batched / one pass per photo, and, as the ceiling, the model alone (in
this process, no server running) on batches of one and of the mean batch size. Needs Debian's `wrk`.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_server import add_key, need_wrk, start_api, stop  # noqa: E402
from bench.app_server import ROOT, bench_index  # noqa: E402
from bench.harness import describe  # noqa: E402

# wrk's Lua: POST the same multipart photo every time; p50 and p99 printed at the end.
POST = r"""
local f = assert(io.open(os.getenv("VITRINE_BENCH_PHOTO"), "rb"))
local photo = f:read("*all")
f:close()
local boundary = "vitrinebench"
wrk.method = "POST"
wrk.body = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n" ..
  "Content-Type: image/jpeg\r\n\r\n" .. photo .. "\r\n--" .. boundary .. "--\r\n"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.headers["Authorization"] = "Bearer " .. os.getenv("VITRINE_BENCH_KEY")
non200 = 0
response = function(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non200") end
  io.write(string.format("NON200 %d\nP50US %d\nP99US %d\n", bad, latency:percentile(50), latency:percentile(99)))
end
"""
# A health check every 50 ms, as a container's probe (every few seconds) or a load balancer's
# would ask it: asked without pause, the probe alone would take a core from the searches.
HEALTH = r"""
delay = function() return 50 end
done = function(summary, latency, requests)
  io.write(string.format("P50US %d\nP99US %d\n", latency:percentile(50), latency:percentile(99)))
end
"""


def _wrk(url: str, script: Path, connections: int, seconds: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "60s",
                             "-s", str(script), url], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)


def _read(proc: subprocess.Popen) -> dict:
    out = proc.communicate()[0]
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
             "p50": int(re.search(r"P50US (\d+)", out).group(1)) / 1000,
             "p99": int(re.search(r"P99US (\d+)", out).group(1)) / 1000}
    bad = re.search(r"NON200 (\d+)", out)
    found["non200"] = int(bad.group(1)) if bad else 0
    return found


def _passes(base: str, key: str) -> tuple[float, float]:
    """(passes, photos) the server's batcher has run so far, from /metrics."""
    import urllib.request

    request = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {key}"})
    text = urllib.request.urlopen(request, timeout=60).read().decode()
    total = float(re.search(r"^vitrine_visual_batch_size_sum (\S+)$", text, re.M).group(1))
    count = float(re.search(r"^vitrine_visual_batch_size_count (\S+)$", text, re.M).group(1))
    return count, total


def _model_alone(index: Path, sizes: list[int], seconds: float = 6.0) -> dict[int, float]:
    """Images/s of the index's own model (its weights and precision) on batches of each size,
    random pixels, after a warm-up pass: what the server's batches could reach at best."""
    import time

    import numpy as np

    from embed.query import QueryEngine

    model = QueryEngine.open(index).embedder
    rates = {}
    for size in sizes:
        images = np.random.default_rng(size).integers(0, 256, (size, 224, 224, 3), dtype=np.uint8)
        model.embed_batch(images)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            model.embed_batch(images)
            done += size
        rates[size] = done / (time.perf_counter() - started)
    return rates


def _precision(index: Path) -> str:
    from common.artifacts import read_json

    return read_json(index / "manifest.json")["model_precision"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--batch-max", type=int, default=8)
    args = p.parse_args()
    need_wrk()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_visual_batching_"))
    index = bench_index(work)
    print(f"precision: {_precision(index)} (the index's own, chosen by `auto` for this CPU)", flush=True)
    keys, key = add_key(work, "bench", "admin")
    photo = sorted((ROOT / "data" / "fashion" / "images").glob("*.jpg"))[0]
    post, health = work / "post.lua", work / "health.lua"
    post.write_text(POST)
    health.write_text(HEALTH)
    env = {"VITRINE_WEIGHTS": "none", "VITRINE_VISUAL_INDEX": str(index)}
    wrk_env = {"VITRINE_BENCH_PHOTO": str(photo), "VITRINE_BENCH_KEY": key}
    found: dict[str, dict] = {}
    for name, batch_max in (("one pass per photo", 1), (f"batched (max {args.batch_max})", args.batch_max)):
        proc, base = start_api(work, "--keys-file", str(keys), "--visual-batch-max", str(batch_max), env=env)
        try:
            _read(_wrk(base + "/v1/visual-search", post, 2, 3, wrk_env))  # warm: the model's first passes
            for connections in (1, args.connections):
                before = _passes(base, key)
                searches = _wrk(base + "/v1/visual-search", post, connections, args.seconds, wrk_env)
                checks = _wrk(base + "/healthz", health, 1, args.seconds, {})
                s, h = _read(searches), _read(checks)
                found[(name, connections)] = s
                passes, photos = (after - was for after, was in zip(_passes(base, key), before))
                s["mean_batch"] = photos / max(passes, 1)
                print(f"{name}, {connections} at once: {s['rps']:.1f} searches/s, p50 {s['p50']:.0f} ms, "
                      f"p99 {s['p99']:.0f} ms, non-200 {s['non200']}; /healthz meanwhile p50 {h['p50']:.1f} ms, "
                      f"p99 {h['p99']:.1f} ms; {s['mean_batch']:.2f} photos a pass", flush=True)
        finally:
            stop(proc)
    one, batched = ("one pass per photo", f"batched (max {args.batch_max})")
    crowd, alone = args.connections, 1
    print(f"batched / one pass per photo: {crowd} at once {found[(batched, crowd)]['rps'] / found[(one, crowd)]['rps']:.2f}x "
          f"searches/s; a photo alone p50 {found[(batched, alone)]['p50'] / found[(one, alone)]['p50']:.2f}x "
          "(target: the crowd faster, a photo alone not slower)")
    size = max(1, round(found[(batched, crowd)]["mean_batch"]))
    rates = _model_alone(index, sorted({1, size}))
    print(f"model alone ({_precision(index)}): {rates[1]:.1f} images/s in batches of 1, {rates[size]:.1f} in batches "
          f"of {size}; batched server / model alone on batches of {size}: "
          f"{found[(batched, crowd)]['rps'] / rates[size]:.2f}x; one pass per photo / model alone on batches of 1: "
          f"{found[(one, crowd)]['rps'] / rates[1]:.2f}x")
    print(f"batched, {crowd} at once / 1 at a time: {found[(batched, crowd)]['rps'] / found[(batched, alone)]['rps']:.2f}x "
          f"searches/s (one pass per photo: {found[(one, crowd)]['rps'] / found[(one, alone)]['rps']:.2f}x)")


if __name__ == "__main__":
    main()
