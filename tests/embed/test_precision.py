"""`auto` precision: the fastest precision the CPU runs well that met the quality bar."""
from __future__ import annotations

import pytest

import settings
from common.errors import InputError
from embed import weights
from embed.weights import MODEL_PRECISIONS, auto_precision, check_precision


def test_auto_follows_the_cpu_flags_and_the_measured_quality(monkeypatch):
    assert auto_precision(frozenset({"avx2", "fma"})) == "fp32"
    assert auto_precision(frozenset({"avx2", "amx_bf16"})) == "bf16"
    assert auto_precision(frozenset({"avx512_vnni"})) == "fp32"  # int8 has not met the bar yet
    monkeypatch.setattr(weights, "AUTO", (("int8", ("avx512_vnni",), True), *weights.AUTO[1:]))
    assert auto_precision(frozenset({"avx512_vnni", "amx_bf16"})) == "int8"  # once it does, the fastest wins


def test_auto_is_the_default_and_resolves_to_a_real_precision(monkeypatch):
    monkeypatch.setattr(settings, "PRECISION", "auto")
    assert check_precision(None, MODEL_PRECISIONS) == auto_precision() in MODEL_PRECISIONS
    assert check_precision("AUTO") == auto_precision()
    monkeypatch.setattr(settings, "PRECISION", "fp32")
    assert check_precision(None) == "fp32"
    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16, int8, not 'fp8'"):
        check_precision("fp8", MODEL_PRECISIONS)
