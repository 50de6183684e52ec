"""The one door to every data set: the demo sets (shop/demos.py) and every workspace built under the
artifacts folder, listed and opened the same way by the app, the API and the evaluation.

    registry = Registry()                    # settings.ARTIFACTS_DIR, read when used
    registry.names("similar_customers")      # the demo sets with that part, then the workspaces
    registry.get("myshop", "similar_products").open("similar_products")

Lists are filtered by the caller: `workspaces=False` leaves out a shop's workspaces (an app visitor
who may not see them), and the API keeps the names a key may read. A name that is neither a demo
set nor a built workspace (or lacks the part) is a LookupError with the same words either way,
so a caller cannot probe for a workspace it may not see.
"""
from __future__ import annotations

import threading
from pathlib import Path

import settings
from common.errors import ArtifactError
from recommend.workspace.model import NAME_PATTERN, RESERVED, Workspace, list_workspaces, open_workspace
from shop.datasets import PARTS, DataSet
from shop.demos import DEFAULTS, DEMOS

__all__ = ["DEFAULTS", "DEMOS", "PARTS", "DataSet", "Registry"]


class Registry:
    def __init__(self, artifacts: Path | None = None):
        self._artifacts = artifacts
        self._listed: tuple[tuple, list[Workspace]] | None = None
        self._guard = threading.Lock()

    @property
    def artifacts(self) -> Path:
        return Path(self._artifacts or settings.ARTIFACTS_DIR)

    def workspaces(self) -> list[Workspace]:
        """Every whole workspace, newest first; read again only when one is added, rebuilt or
        removed (each replaces its link in the artifacts folder, which changes the folder's time)."""
        root = self.artifacts
        key = (str(root), _dir_time(root))
        listed = self._listed
        if listed is None or listed[0] != key:
            with self._guard:  # a workspace called like a demo set (built before its name was reserved) is left out
                listed = self._listed = (key, [ws for ws in list_workspaces(root) if ws.name not in DEMOS])
        return listed[1]

    def datasets(self, part: str | None = None, *, workspaces: bool = True) -> list[DataSet]:
        """The demo sets (with `part`, when given), then the workspaces (with it) when asked for."""
        demos = sorted(DEMOS.values(), key=lambda d: d.name != DEFAULTS.get(part))  # the part's default first
        found = [_demo(demo, self._artifacts) for demo in demos]
        if workspaces:
            found += [_workspace(ws, self._artifacts) for ws in self.workspaces()]
        return [ds for ds in found if part is None or part in ds.parts]

    def names(self, part: str | None = None, *, workspaces: bool = True) -> list[str]:
        return [ds.name for ds in self.datasets(part, workspaces=workspaces)]

    def get(self, name: str | None, part: str | None = None, *, workspaces: bool = True) -> DataSet:
        """The data set called `name` (None: `part`'s default demo set); LookupError if there is no
        such data set open to the caller, or it has no `part`."""
        if name is None:
            if part is None:
                raise LookupError("name a data set")
            name = DEFAULTS[part]
        if name in DEMOS:
            found = _demo(DEMOS[name], self._artifacts)
        elif workspaces and isinstance(name, str) and NAME_PATTERN.fullmatch(name) and name not in RESERVED:
            try:
                found = _workspace(open_workspace(name, self._artifacts), self._artifacts)
            except ArtifactError:
                raise LookupError(f"unknown data set {name!r}") from None
        else:
            raise LookupError(f"unknown data set {name!r}")
        if part is not None:
            found.check(part)
        return found


def _dir_time(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _demo(demo, artifacts) -> DataSet:
    return DataSet(demo.name, demo.label, demo.parts, demo=demo, artifacts=artifacts)


def _workspace(ws: Workspace, artifacts) -> DataSet:
    return DataSet(ws.name, ws.label, tuple(p for p in PARTS if p in ws.parts), workspace=ws, artifacts=artifacts)


