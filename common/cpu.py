"""What this CPU is and can do (Linux /proc/cpuinfo), for choosing a precision and for the
benchmarks' header line; empty answers where there is no /proc/cpuinfo.

`ONEDNN_MAX_CPU_ISA` (oneDNN's own setting, which TensorFlow and OpenVINO obey) caps the
instruction sets their kernels use; the flags above the cap are left out here too, so `auto`
chooses as it would on that CPU, and a benchmark run with ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512
machine measures, and says it measures, an AVX2-only CPU's kernels.
"""
from __future__ import annotations

import os
import platform

# oneDNN's cap (ONEDNN_MAX_CPU_ISA) -> the flags it leaves out: everything newer than it.
_NEWER = {"avx2": ("avx512", "amx", "avx_vnni"), "avx512_core": ("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx")}
CAPS = {
    "sse41": ("avx", "fma", "f16c", *_NEWER["avx2"]),
    "avx": ("avx2", "fma", *_NEWER["avx2"]),
    "avx2": _NEWER["avx2"],
    "avx2_vnni": ("avx512", "amx", "avx_vnni_int8"),
    "avx2_vnni_2": ("avx512", "amx"),
    "avx512_core": _NEWER["avx512_core"],
    "avx512_core_vnni": ("avx512_bf16", "avx512_fp16", "amx"),
    "avx512_core_bf16": ("avx512_fp16", "amx"),
    "avx512_core_fp16": ("amx",),
    "avx512_core_amx": (), "avx512_core_amx_fp16": (), "all": (), "default": (),
}


def _cpuinfo() -> tuple[str, frozenset[str]]:
    model, flags = platform.processor() or platform.machine(), frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model, flags


def cpu_model() -> str:
    return _cpuinfo()[0]


def isa_cap() -> str | None:
    """ONEDNN_MAX_CPU_ISA in lower case when it caps anything known, else None."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    return cap if CAPS.get(cap) else None


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (avx2, avx512_vnni, amx_bf16, ...), without those above
    ONEDNN_MAX_CPU_ISA when it is set."""
    flags = _cpuinfo()[1]
    cap = isa_cap()
    if cap:
        flags = frozenset(f for f in flags if not f.startswith(CAPS[cap]))
    return flags
