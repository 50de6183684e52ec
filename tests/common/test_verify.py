"""`verify DIR`: every digest checked, also those that loading skips for large files."""
from __future__ import annotations

import pytest

from common import artifacts
from embed import cli as embed_cli
from recommend import cli as recommend_cli
from recommend.rules import model as rules
from recommend.rules.baskets import baskets_from_lists


@pytest.fixture
def built(tmp_path):
    result = rules.build(baskets_from_lists([["a", "b"], ["a", "b", "c"], ["b", "c"], ["a", "c"]]),
                         min_support=0.25, min_confidence=0.1, min_lift=0.0)
    return rules.write(result, tmp_path / "rules")


@pytest.mark.parametrize("main", [recommend_cli.main, embed_cli.main], ids=["recommend", "embed"])
def test_verify_passes_a_whole_artifact(built, main, capsys):
    assert main(["verify", str(built)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {built}: basket_rules (format 1), 3 files") and "digests and rows match" in out


def test_verify_finds_what_loading_does_not_check_in_large_files(built, monkeypatch, capsys):
    path = built / "rules.csv"
    data = bytearray(path.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")  # same size, same rows, other bytes
    path.write_bytes(bytes(data))
    monkeypatch.setattr(artifacts, "VERIFY_DIGEST_MAX_BYTES", 0)  # as for a file of many MB
    rules.load(built)  # loading checks sizes and rows only here
    assert recommend_cli.main(["verify", str(built), str(built.parent / "missing")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"DAMAGED {built} is damaged: rules.csv sha256")
    assert "python -m recommend rules" in out[0]  # the rebuild command recorded at write time
    assert out[1].startswith("DAMAGED No artifact at")
