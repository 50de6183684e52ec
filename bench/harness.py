"""What every benchmark shares: the machine line it prints first, where the real data sets are,
timing, percentiles (one method for all) and peak memory, of this process or of a child.

Benchmarks import it as `from harness import ...` (bench/ is the script's folder; the one-off
decision benchmarks in bench/decisions/ put bench/ on their path first).
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.cpu import cpu_flags, cpu_model, isa_cap

ROOT = Path(__file__).resolve().parents[1]  # the repository
# The full public data sets (../shared/datasets, see its README); VITRINE_DATASETS elsewhere.
DATASETS = Path(os.environ.get("VITRINE_DATASETS", ROOT.parent / "shared" / "datasets"))
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe() -> str:
    """What the benchmark ran on: CPU model, cores and the vector instruction sets that matter
    here, so figures from machines with and without AVX-512 or bf16 are never compared by mistake."""
    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    have = [f for f in FLAGS if f in flags] or ["none of " + ", ".join(FLAGS)]
    capped = (f" (capped by ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}: TensorFlow's and OpenVINO's "
              "kernels use no newer ones)") if isa_cap() else ""
    return f"Machine: {cpu_model()}; {cores} cores; instruction sets: {', '.join(have)}{capped}"


def dataset(*parts: str) -> Path:
    """A file or folder of the real data sets; SystemExit with what to do when it is not there."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"{path} not found: this benchmark needs the full data sets (../shared/datasets, see its "
                         "README), or VITRINE_DATASETS pointing at them.")
    return path


def timed(fn: Callable, *args, **kw) -> tuple[Any, float]:
    """(what fn returned, seconds it took)."""
    started = time.perf_counter()
    result = fn(*args, **kw)
    return result, time.perf_counter() - started


def best_of(fn: Callable, n: int = 3) -> float:
    """The fastest of n runs of fn, in seconds (the least disturbed by the rest of the machine)."""
    return min(timed(fn)[1] for _ in range(n))


def percentiles(values, *qs: float) -> tuple[float, ...]:
    """The qs-th percentiles (default p50 and p95) of values, by linear interpolation between the
    closest ranks (numpy's default, statistics.quantiles' "inclusive"): the one method every
    benchmark reports; NaN for no values."""
    qs = qs or (50, 95)
    if len(values) == 0:
        return tuple(float("nan") for _ in qs)
    return tuple(float(v) for v in np.percentile(np.asarray(values, dtype=float), qs))


def rss(field: str = "VmRSS") -> int:
    """Resident memory of this process in bytes; VmHWM is its peak since the last reset_peak()."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    """Start VmHWM (the resident peak) again from the current size (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    """This process's resident peak since it started, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(conn, fn, args, kw) -> None:
    result = fn(*args, **kw)
    conn.send((result, peak_mb()))
    conn.close()


def in_child(fn: Callable, *args, **kw) -> tuple[Any, float]:
    """(fn's result, the peak resident MB of the fresh process that ran it): peak memory of one
    piece of work, not of whatever this process loaded before. fn and its result must pickle."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, fn, args, kw))
    process.start()
    send.close()
    result, peak = receive.recv()
    process.join()
    return result, peak
