"""Imports a long-lived process keeps in hand: optional libraries that another library would
load for features Vitrine never calls through it.

Keras imports scikit-learn (its estimator wrappers) and matplotlib (its image gallery) at start
when they are installed: 82 MB of the app's resident memory (bench/app_memory.py), for code
Vitrine does not use (its own scikit-learn calls import what they need when they need it).
`hidden` keeps them out while such a library is imported; `module` is how Vitrine imports them
itself, under the same lock, so a visitor's page never sees a module hidden by another thread.
"""
from __future__ import annotations

import importlib
import sys
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

_LOCK = threading.RLock()


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Inside, `import NAME` raises ImportError for each of `names` not yet imported (libraries
    that import them optionally go on without); afterwards they import normally."""
    with _LOCK:
        blocked = [name for name in names if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # the import system's own "not importable" marker
        try:
            yield
        finally:
            for name in blocked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


def module(name: str) -> ModuleType:
    """importlib.import_module(name), never while another thread hides it."""
    with _LOCK:
        return importlib.import_module(name)
