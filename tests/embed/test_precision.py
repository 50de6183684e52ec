"""`auto` precision without a catalogue check: what the CPU's instruction sets choose."""
from __future__ import annotations

import pytest

import settings
from common.errors import InputError
from embed.precision import _spread
from embed.weights import MODEL_PRECISIONS, auto_precision, check_precision, int8_is_faster


def test_auto_follows_the_cpu_flags():
    assert auto_precision(frozenset({"avx2", "fma"})) == "fp32"
    assert auto_precision(frozenset({"avx2", "amx_bf16"})) == "bf16"
    assert auto_precision(frozenset({"avx512_vnni"})) == "fp32"  # int8 only after a check (embed.precision)
    assert int8_is_faster(frozenset({"avx512_vnni"})) and int8_is_faster(frozenset({"amx_int8"}))
    assert int8_is_faster(frozenset({"avx2", "fma"}))  # 2.25x there (bench/embed_throughput.py, capped)
    assert not int8_is_faster(frozenset({"sse4_2", "avx"}))


def test_auto_is_the_default_and_resolves_to_a_real_precision(monkeypatch):
    monkeypatch.setattr(settings, "PRECISION", "auto")
    assert check_precision(None, MODEL_PRECISIONS) == auto_precision() in MODEL_PRECISIONS
    assert check_precision("AUTO") == auto_precision()
    monkeypatch.setattr(settings, "PRECISION", "fp32")
    assert check_precision(None) == "fp32"
    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16, int8, not 'fp8'"):
        check_precision("fp8", MODEL_PRECISIONS)


@pytest.mark.parametrize("count, calibration, check", [(5000, 300, 500), (20, 8, 10), (12, 8, 10), (900, 300, 500)])
def test_the_check_pictures_are_spread_over_the_catalogue_and_never_the_calibration_ones(count, calibration, check):
    calibrated = _spread(count, calibration)
    checked = _spread(count, check, taken=set(calibrated))
    assert len(calibrated) == min(count, calibration) and len(set(calibrated)) == len(calibrated)
    assert len(checked) == min(check, count - len(calibrated)) and not set(checked) & set(calibrated)
    assert all(0 <= i < count for i in calibrated + checked)
    if count >= 2 * (calibration + check):  # both reach past the catalogue's middle, not just its start
        assert max(calibrated) > count / 2 and max(checked) > count / 2
