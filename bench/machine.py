"""What a benchmark ran on: CPU model, cores and the vector instruction sets that matter here.

Every benchmark prints this line first, so figures from machines with and without AVX-512 or
bf16 are never compared by mistake.
"""
from __future__ import annotations

import os
import platform

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    have = [f for f in FLAGS if f in flags] or ["none of " + ", ".join(FLAGS)]
    return f"Machine: {model}; {cores} cores; instruction sets: {', '.join(have)}"


if __name__ == "__main__":
    print(describe())
