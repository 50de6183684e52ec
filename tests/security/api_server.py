"""Real API servers for the security tests: `python -m api` as a subprocess (what a host runs);
an app served by uvicorn in a thread of this process is tests.helpers.uvicorn_server."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers import ROOT, free_port


def wait_up(url: str, proc: subprocess.Popen | None = None, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the API exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the API did not come up")


def api_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "api", *args]


def run_api(*args: str, timeout: float = 30, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m api ARGS` to its end (a server that does not end within `timeout` fails the test:
    it started when it should have refused)."""
    proc = subprocess.Popen(api_command(*args), cwd=ROOT, env={**os.environ, **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"python -m api {' '.join(args)} kept running (it served) instead of refusing") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextmanager
def api_process(*args: str, env: dict | None = None):
    """`python -m api --port P ARGS` running; yields (url, process)."""
    port = free_port()
    proc = subprocess.Popen(api_command("--port", str(port), "--no-visual", *args), cwd=ROOT, text=True,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, proc)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def children(pid: int) -> list[int]:
    """The live worker processes whose parent is `pid` (uvicorn's workers: multiprocessing's
    spawned children, not its resource tracker, not a dead one left unreaped)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    spawned = b"spawn_main" in f.read()
                if int(fields[1]) == pid and fields[0] != "Z" and spawned:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def wait_for(check, seconds: float = 10) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def keys_file_with(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def each_worker(url: str, admin: str, done, ask=None, seconds: float = 90, verify=True) -> dict[int, dict]:
    """/v1/admin/status by the worker that answered it (uvicorn's workers share one socket: each
    connection goes to one of them), asked on a new connection each round, after `ask()` when
    given (so every worker gets requests), until `done(statuses)`: the statuses by worker."""
    seen: dict[int, dict] = {}
    deadline = time.time() + seconds
    while time.time() < deadline:
        if ask is not None:
            ask()
        with httpx.Client(verify=verify, timeout=60) as client:
            status = client.get(url + "/v1/admin/status", headers=bearer(admin)).json()
        seen[status["worker"]] = status
        if done(seen):
            return seen
    raise AssertionError(f"the workers' statuses never got there within {seconds} s: {seen}")
