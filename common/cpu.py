"""What this CPU is and can do (Linux /proc/cpuinfo), for choosing a precision and for the
benchmarks' header line; empty answers where there is no /proc/cpuinfo."""
from __future__ import annotations

import platform


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


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (avx2, avx512_vnni, amx_bf16, ...)."""
    return _cpuinfo()[1]
