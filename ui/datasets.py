"""The data-set picker every page shares: the page's demo sets, then every workspace built from a
shop's own data (python -m recommend build, or the "Your data" page) that has the page's part.
The choice is in the link (`?dataset=<demo set or workspace name>`). Workspaces hold a shop's
customers and orders: listed, and reachable by link, only for those ui/access.py lets see them."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

import settings
from recommend.workspace.model import Workspace, list_workspaces
from ui import access
from ui.links import asked, pick, share

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
    """The workspaces under settings.ARTIFACTS_DIR (newest first), those with `part` when given;
    none for a visitor who may not see the shop's data."""
    if not access.current().workspaces:
        return []
    root = Path(settings.ARTIFACTS_DIR)
    found = _listed(str(root), _stamp(root))
    return [w for w in found if part is None or part in w.parts]


def choose(part: str, demos: dict[str, str], container=st, label: str = "Data set") -> str | Workspace:
    """A picker of the demo sets ({key: label}) and the workspaces with `part`; returns the demo
    key, or the Workspace chosen."""
    spaces = {w.name: w for w in workspaces(part)}
    options = list(demos) + list(spaces)
    labels = {**demos, **{name: w.label_for(part) for name, w in spaces.items()}}
    wanted = asked(KEY)  # a link's, not this session's own choice on another page
    if wanted is not None and wanted not in options:  # the same line whether or not it exists: no probing
        container.error(f"No data set {wanted!r} is open to you here"
                        + ("." if access.current().workspaces else ": a shop's workspaces need sign-in as its analyst.")
                        + " Showing the demo data.")
    choice = container.selectbox(label, options, format_func=labels.get, **pick(KEY, options),
                                 help="The demo data, or a shop's own: build a workspace on the Your data page "
                                      "(or with python -m recommend build) and it is listed here.")
    share(KEY, choice)
    return spaces.get(choice, choice)
