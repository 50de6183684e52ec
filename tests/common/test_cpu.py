"""common/cpu.py: ONEDNN_MAX_CPU_ISA (the cap TensorFlow's and OpenVINO's kernels obey) leaves the
newer instruction sets out of the CPU's flags, so `auto` chooses as on that CPU."""
from __future__ import annotations

import pytest

from common import cpu
from embed.weights import auto_precision

SAPPHIRE_RAPIDS = frozenset({"sse4_1", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni",
                             "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8", "amx_tile"})


@pytest.fixture
def machine(monkeypatch):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: ("a test CPU", SAPPHIRE_RAPIDS))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    return monkeypatch


@pytest.mark.parametrize("cap, kept, dropped", [
    ("AVX2", {"avx2", "fma", "avx"}, {"avx_vnni", "avx512f", "avx512_vnni", "amx_int8"}),
    ("avx512_core_vnni", {"avx512f", "avx512bw", "avx512_vnni", "avx_vnni"}, {"avx512_bf16", "amx_bf16", "amx_tile"}),
    ("AVX512_CORE_BF16", {"avx512_bf16", "avx512_vnni"}, {"avx512_fp16", "amx_bf16", "amx_int8"}),
])
def test_a_cap_leaves_the_newer_instruction_sets_out(machine, cap, kept, dropped):
    machine.setenv("ONEDNN_MAX_CPU_ISA", cap)
    flags = cpu.cpu_flags()
    assert kept <= flags and not dropped & flags and cpu.isa_cap() == cap.lower()


@pytest.mark.parametrize("value", ["", "ALL", "DEFAULT", "no-such-isa", "AVX512_CORE_AMX"])
def test_no_cap_or_an_unknown_one_keeps_every_flag(machine, value):
    machine.setenv("ONEDNN_MAX_CPU_ISA", value)
    assert cpu.cpu_flags() == SAPPHIRE_RAPIDS and cpu.isa_cap() is None


def test_auto_chooses_as_on_the_capped_cpu(machine):
    assert auto_precision() == "bf16"  # AMX and AVX-512 bf16: bf16 (int8 only after a check, embed/precision.py)
    machine.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert auto_precision() == "fp32"
