"""The API as the API benchmarks run it: `python -m api` on a free port of 127.0.0.1 over a bench
folder, and wrk against it (a Lua script that walks a list of paths, sends a key, and counts
every answer that is not 200). Shared by api_auth.py and api_gc.py. Needs Debian's `wrk`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.app_server import ROOT, free_port

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
  io.write(string.format("P50US %d\nP99US %d\nP999US %d\nMAXUS %d\n", latency:percentile(50),
                         latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")


def add_key(work: Path, name: str, scope: str = "read") -> tuple[Path, str]:
    """(the keys file, a new key without a rate limit)."""
    keys = work / "keys.toml"
    token = subprocess.run([sys.executable, "-m", "api", "add-key", "--name", name, "--scope", scope, "--rate", "0",
                            "--keys-file", str(keys)], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.strip()
    return keys, token


def start_api(work: Path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`python -m api --artifacts work/artifacts ARGS` on a free port, once /readyz says every
    artifact is loaded; (the process, its base URL)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--artifacts", str(work / "artifacts"),
                             *args], cwd=ROOT, env={**os.environ, **(env or {})},
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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def paths_file(work: Path, paths: list[str]) -> Path:
    out = work / "paths.txt"
    out.write_text("".join(p + "\n" for p in paths))
    return out


def wrk(base: str, key: str, paths: Path, seconds: int, connections: int) -> dict:
    """One `wrk -t1 -cN -dS --latency` run: requests/s, p50, p99, p99.9 and the slowest in ms, and
    the answers other than 200."""
    script = paths.parent / "count_non200.lua"
    if not script.exists():
        script.write_text(LUA)
    env = {**os.environ, "VITRINE_BENCH_PATHS": str(paths), "VITRINE_BENCH_KEY": key}
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
                         env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50": int(re.search(r"P50US (\d+)", out).group(1)) / 1000,
            "p99": int(re.search(r"P99US (\d+)", out).group(1)) / 1000,
            "p999": int(re.search(r"P999US (\d+)", out).group(1)) / 1000,
            "max": int(re.search(r"MAXUS (\d+)", out).group(1)) / 1000,
            "non200": int(re.search(r"NON200 (\d+)", out).group(1))}


def next_to_paths() -> list[str]:
    """GET /v1/next-to of every demo basket item (the groceries)."""
    import urllib.parse

    import settings
    from recommend.rules.baskets import read_baskets

    items = sorted(read_baskets(settings.DEMO_BASKETS, "wide").items)
    return [f"/v1/next-to?{urllib.parse.urlencode({'item': item})}" for item in items]
