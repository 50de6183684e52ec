"""Limits before work: a small orders file that inflates to hundreds of megabytes (a gzip bomb, an
.xlsx whose sheet is a zip bomb, a Parquet file of one repeated value) is refused with one line
naming the limit, before it fills memory (issue #31: a 2.4 GB gzip took a build to 23 GB)."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from common.shop_tables import read_table

ROOT = Path(__file__).resolve().parents[2]  # the checkout whose code is tested
LIMIT = 10_000_000  # the cap the tests run under (VITRINE_MAX_TABLE_BYTES), to stay fast
INFLATED = 200_000_000  # what each bomb inflates to
HEADER = b"InvoiceNo,StockCode,Quantity\n"
MEASURE = """
import json, resource, sys
import openpyxl, pyarrow.parquet  # what reading may import, loaded before the peak is taken
from common.errors import InputError
from common.shop_tables import read_table
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    table = read_table(sys.argv[1])
    outcome = f"read {len(table)} rows"
except InputError as exc:
    outcome = "InputError: " + str(exc)
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grew_mb": grew / 1024, "outcome": outcome}))
"""


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    """The cap lowered to LIMIT for this process and the subprocesses it starts."""
    monkeypatch.setenv("VITRINE_MAX_TABLE_BYTES", str(LIMIT))
    import settings

    monkeypatch.setattr(settings, "MAX_TABLE_BYTES", LIMIT, raising=False)


def _gzip_bomb(path: Path, inflated: int = INFLATED) -> Path:
    """A valid CSV (a header, then blank lines) that is ~200 KB as gzip and `inflated` bytes once inflated."""
    chunk = b"\n" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(HEADER)
        for _ in range(inflated // len(chunk)):
            out.write(chunk)
        out.write(b"536365,85123A,6\n")
    return path


def _workbook() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"InvoiceNo": ["536365"], "StockCode": ["85123A"], "Quantity": ["6"]}).to_excel(
        buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


def _xlsx_with_sheet(path: Path, filler: bytes, repeats: int) -> Path:
    """A real workbook whose first sheet's XML gets `filler` x `repeats` inside its <sheetData> (each
    part streamed into the zip, so the test never holds the whole sheet)."""
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(io.BytesIO(_workbook())) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != sheet:
                out.writestr(info, data)
                continue
            head, tail = data.split(b"<sheetData>", 1)
            with out.open(sheet, "w", force_zip64=True) as part:
                part.write(head + b"<sheetData>")
                for _ in range(repeats):
                    part.write(filler)
                part.write(tail)
    return path


def _measured(path: Path) -> dict:
    """Read `path` with read_table in a fresh Python under the lowered cap: how much its peak memory
    grew (MB) and how it ended."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "VITRINE_MAX_TABLE_BYTES": str(LIMIT)},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _one_line_about_the_limit(message: str, name: str) -> None:
    assert "\n" not in message.strip(), message
    assert name in message and "VITRINE_MAX_TABLE_BYTES" in message and "10 MB" in message, message


def test_a_gzip_bomb_is_refused_at_the_limit_without_filling_memory(tmp_path):
    bomb = _gzip_bomb(tmp_path / "orders.csv.gz")
    assert bomb.stat().st_size < 2_000_000
    result = _measured(bomb)
    assert result["outcome"].startswith("InputError: "), result
    _one_line_about_the_limit(result["outcome"], "orders.csv.gz")
    assert "inflates past" in result["outcome"], result
    assert result["grew_mb"] < 60, result  # the cap and a chunk, not 200 MB


def test_a_gzip_bomb_uploaded_as_bytes_and_through_a_build_is_refused_in_one_line(tmp_path, capsys):
    bomb = _gzip_bomb(tmp_path / "orders.csv.gz", inflated=3 * LIMIT)
    with pytest.raises(InputError) as refused:
        read_table(bomb.read_bytes(), name="upload.csv.gz")
    _one_line_about_the_limit(str(refused.value), "upload.csv.gz")

    from recommend import cli

    assert cli.main(["build", "--orders", str(bomb), "--name", "bomb", "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    _one_line_about_the_limit(err, "orders.csv.gz")
    assert not (tmp_path / "a" / "bomb").exists()


def test_a_plain_file_past_the_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "orders.csv"
    with open(big, "wb") as out:
        out.write(HEADER)
        out.write(b"536365,85123A,6\n" * (LIMIT // 16 + 1000))
    with pytest.raises(InputError) as refused:
        read_table(big)
    _one_line_about_the_limit(str(refused.value), "orders.csv")
    small = tmp_path / "small.csv.gz"  # under the limit, gzip or not, reads as before
    small.write_bytes(gzip.compress(HEADER + b"536365,85123A,6\n" * 1000))
    assert len(read_table(small)) == 1000


def test_an_xlsx_zip_bomb_is_refused_before_openpyxl_inflates_it(tmp_path, monkeypatch):
    bomb = _xlsx_with_sheet(tmp_path / "orders.xlsx", b"\n" * (1 << 20), INFLATED >> 20)
    assert bomb.stat().st_size < 2_000_000
    result = _measured(bomb)
    assert result["outcome"].startswith("InputError: "), result
    message = result["outcome"]
    assert "\n" not in message and "orders.xlsx" in message and "zip bomb" in message, message
    assert result["grew_mb"] < 60, result

    import settings  # the ratio alone refuses it, whatever the size limit

    monkeypatch.setattr(settings, "MAX_TABLE_BYTES", 1 << 40, raising=False)
    with pytest.raises(InputError, match="zip bomb"):
        read_table(bomb)


def test_an_xlsx_whose_sheet_inflates_past_the_limit_is_refused(tmp_path):
    import random

    rng = random.Random(7)  # cells of random digits: a workbook's usual compression, no bomb
    rows = b"".join(b'<row><c t="inlineStr"><is><t>%d</t></is></c></row>' % rng.getrandbits(64) for _ in range(20_000))
    workbook = _xlsx_with_sheet(tmp_path / "orders.xlsx", rows, (3 * LIMIT) // len(rows) + 1)
    with pytest.raises(InputError) as refused:
        read_table(workbook)
    _one_line_about_the_limit(str(refused.value), "orders.xlsx")
    assert "inflates past" in str(refused.value)
    ordinary = tmp_path / "ordinary.xlsx"  # a real workbook under the limit reads as before
    ordinary.write_bytes(_workbook())
    assert read_table(ordinary)["StockCode"].tolist() == ["85123A"]


def test_a_parquet_file_of_one_repeated_value_is_refused_by_its_metadata(tmp_path):
    path = tmp_path / "orders.parquet"
    rows = 2 * LIMIT // 8  # 2.5 million rows of one value: dictionary-encoded to a few KB
    pd.DataFrame({"InvoiceNo": ["536365"] * rows, "StockCode": ["85123A"] * rows}).to_parquet(path, index=False)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputError) as refused:
        read_table(path)
    _one_line_about_the_limit(str(refused.value), "orders.parquet")
