"""What a benchmark ran on: CPU model, cores and the vector instruction sets that matter here.

Every benchmark prints this line first, so figures from machines with and without AVX-512 or
bf16 are never compared by mistake.
"""
from __future__ import annotations

import os

from common.cpu import cpu_flags, cpu_model, isa_cap

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe() -> str:
    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    have = [f for f in FLAGS if f in flags] or ["none of " + ", ".join(FLAGS)]
    capped = (f" (capped by ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}: TensorFlow's and OpenVINO's "
              "kernels use no newer ones)") if isa_cap() else ""
    return f"Machine: {cpu_model()}; {cores} cores; instruction sets: {', '.join(have)}{capped}"
