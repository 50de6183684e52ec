"""The data-set picker every page shares: the page's demo sets, then every workspace built from a
shop's own data (python -m recommend build, or the "Your data" page) that has the page's part.
The choice is in the link (`?dataset=<demo set or workspace name>`)."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

import settings
from recommend.workspace.model import Workspace, list_workspaces
from ui.links import pick, share

KEY = "dataset"


def _stamp(root: Path) -> float:
    """Changes when a workspace is added, rebuilt or removed (its link is replaced in `root`)."""
    try:
        return os.stat(root).st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=4)
def _listed(root: str, stamp: float) -> list[Workspace]:
    return list_workspaces(Path(root))


def workspaces(part: str | None = None) -> list[Workspace]:
    """The workspaces under settings.ARTIFACTS_DIR (newest first), those with `part` when given."""
    root = Path(settings.ARTIFACTS_DIR)
    found = _listed(str(root), _stamp(root))
    return [w for w in found if part is None or part in w.parts]


def choose(part: str, demos: dict[str, str], container=st, label: str = "Data set") -> str | Workspace:
    """A picker of the demo sets ({key: label}) and the workspaces with `part`; returns the demo
    key, or the Workspace chosen."""
    spaces = {w.name: w for w in workspaces(part)}
    options = list(demos) + list(spaces)
    labels = {**demos, **{name: w.label_for(part) for name, w in spaces.items()}}
    choice = container.selectbox(label, options, format_func=labels.get, **pick(KEY, options),
                                 help="The demo data, or a shop's own: build a workspace on the Your data page "
                                      "(or with python -m recommend build) and it is listed here.")
    share(KEY, choice)
    return spaces.get(choice, choice)
