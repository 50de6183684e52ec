"""What the API's checks cost: lookups with keys against the same server with --no-auth, measured
with wrk in one run, on 127.0.0.1 only.

    python bench/api_auth.py [--seconds 10] [--connections 16] [--rounds 3]

Starts `python -m api` twice on the demo sets (no visual index): once with a key (no rate limit),
once with --no-auth. Then, alternating between the two so that drift on the machine falls on both,
`--rounds` runs of `wrk -t1 -c CONNECTIONS -d SECONDS --latency` of GET /v1/next-to over the demo
items; a Lua script counts every answer that is not 200 (it must be 0: a 401 or 429 would be
cheap and flatter the keyed server). Prints requests/s and p50/p99 of each, the ratio keyed /
open, and the non-200 count. Needs Debian's `wrk` (apt-get install wrk).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.app_server import ROOT, free_port  # noqa: E402
from bench.harness import describe  # noqa: E402

# wrk's Lua: one request path per item, the header set once; every non-200 counted per thread.
LUA = r"""
local paths, i = {}, 0
for line in io.lines(os.getenv("VITRINE_BENCH_PATHS")) do paths[#paths + 1] = line end
local key = os.getenv("VITRINE_BENCH_KEY")
if key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
non200 = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non200") end
  io.write(string.format("NON200 %d\n", bad))
  io.write(string.format("P50US %d\nP99US %d\n", latency:percentile(50), latency:percentile(99)))
end
"""


def _start(work: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--no-visual",
                             "--artifacts", str(work / "artifacts"), *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    while time.perf_counter() - started < 300:
        try:
            if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                return proc, base
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("the API did not become ready within 300 s")


def _wrk(base: str, key: str, paths: Path, script: Path, seconds: int, connections: int) -> dict:
    env = {**os.environ, "VITRINE_BENCH_PATHS": str(paths), "VITRINE_BENCH_KEY": key}
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
                         env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50": int(re.search(r"P50US (\d+)", out).group(1)) / 1000,
            "p99": int(re.search(r"P99US (\d+)", out).group(1)) / 1000,
            "non200": int(re.search(r"NON200 (\d+)", out).group(1))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_api_auth_"))
    keys = work / "keys.toml"
    key = subprocess.run([sys.executable, "-m", "api", "add-key", "--name", "bench", "--rate", "0",
                          "--keys-file", str(keys)], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    from recommend.rules import defaults
    from recommend.rules.baskets import read_baskets

    items = sorted(read_baskets(defaults.DEMO_BASKETS, "wide").items)
    paths = work / "paths.txt"
    paths.write_text("".join(f"/v1/next-to?{urllib.parse.urlencode({'item': item})}\n" for item in items))
    script = work / "count_non200.lua"
    script.write_text(LUA)
    keyed, keyed_url = _start(work, "--keys-file", str(keys))
    open_, open_url = _start(work, "--no-auth", "--keys-file", str(work / "none.toml"))
    runs = {"keys": [], "no-auth": []}
    try:
        for url, k in ((keyed_url, key), (open_url, "")):  # warm both: every lookup table built
            _wrk(url, k, paths, script, 2, args.connections)
        for _ in range(args.rounds):
            runs["keys"].append(_wrk(keyed_url, key, paths, script, args.seconds, args.connections))
            runs["no-auth"].append(_wrk(open_url, "", paths, script, args.seconds, args.connections))
    finally:
        for proc in (keyed, open_):
            proc.terminate()
            proc.wait(30)
    summary = {}
    for name, results in runs.items():
        summary[name] = {m: statistics.median(r[m] for r in results) for m in ("rps", "p50", "p99")}
        non200 = sum(r["non200"] for r in results)
        print(f"{name}: {summary[name]['rps']:,.0f} requests/s, p50 {summary[name]['p50']:.2f} ms, "
              f"p99 {summary[name]['p99']:.2f} ms (median of {len(results)} runs of {args.seconds} s at "
              f"{args.connections} connections); answers other than 200: {non200}")
        if non200:
            print(f"  {name} answered {non200} non-200: the figures above are not valid")
    k, o = summary["keys"], summary["no-auth"]
    print(f"keys / no-auth: throughput {k['rps'] / o['rps']:.3f}x, p99 {k['p99'] / o['p99']:.3f}x "
          f"(target: throughput >= 0.95x)")


if __name__ == "__main__":
    main()
