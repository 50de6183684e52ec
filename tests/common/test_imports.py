"""common/imports.py: a library imported while optional modules are hidden goes on without them;
Vitrine's own imports of those modules wait for the hiding to end and then work."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from common.imports import hidden, module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module no test has imported yet."""
    (tmp_path / "vitrine_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "vitrine_probe_module"
    sys.modules.pop("vitrine_probe_module", None)


def test_a_hidden_module_cannot_be_imported_until_the_block_ends(probe):
    with hidden(probe, "json"):  # json is imported already: it stays
        with pytest.raises(ImportError):
            __import__(probe)
        assert module("json").dumps([1]) == "[1]"
    assert module(probe).VALUE == 42


def test_vitrine_imports_wait_while_another_thread_hides_the_module(probe):
    entered, release, got = threading.Event(), threading.Event(), []

    def library_import():
        with hidden(probe):
            entered.set()
            release.wait(5)

    hider = threading.Thread(target=library_import)
    hider.start()
    entered.wait(5)
    importer = threading.Thread(target=lambda: got.append(module(probe).VALUE))
    importer.start()
    importer.join(0.3)
    assert importer.is_alive() and got == []  # waiting, not refused
    release.set()
    hider.join(5)
    importer.join(5)
    assert got == [42]


def test_the_image_model_loads_without_scikit_learn_or_matplotlib():
    code = ("import sys; import embed.model as m; "
            "print('sklearn' in sys.modules, 'matplotlib' in sys.modules, hasattr(m.keras, 'applications'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False", "False", "True"]
