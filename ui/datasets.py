"""The data-set picker every page shares, through the registry (shop/registry.py): the page's demo
sets, then every workspace built from a shop's own data (python -m recommend build, or the "Your
data" page) that has the page's part. The choice is in the link (`?dataset=<name>`). Workspaces
hold a shop's customers and orders: listed, and reachable by link, only for those ui/access.py
lets see them."""
from __future__ import annotations

import streamlit as st

from shop.registry import DataSet, Registry
from ui import access
from ui.links import asked, pick, share

KEY = "dataset"


@st.cache_resource(show_spinner=False)
def registry() -> Registry:
    """One registry per process (it reads settings.ARTIFACTS_DIR when asked, and lists the
    workspaces again only when one is added, rebuilt or removed)."""
    return Registry()


def datasets(part: str | None = None) -> list[DataSet]:
    """The data sets with `part` this visitor may see: the demo sets, and the workspaces when
    ui/access.py lets them see the shop's data."""
    return registry().datasets(part, workspaces=access.current().workspaces)


def workspaces():
    """The shop's workspaces (recommend.workspace.Workspace) this visitor may see, newest first."""
    return [ds.workspace for ds in datasets() if ds.workspace is not None]


def choose(part: str, container=st, label: str = "Data set", extra: dict[str, str] | None = None) -> DataSet | str:
    """A picker of the data sets with `part` (and `extra` choices {key: label}, returned as
    their key); returns the DataSet chosen."""
    found = {ds.name: ds for ds in datasets(part)}
    extra = extra or {}
    options = list(found) + list(extra)
    labels = {**{name: ds.label_for(part) for name, ds in found.items()}, **extra}
    wanted = asked(KEY)  # a link's, not this session's own choice on another page
    if wanted is not None and wanted not in options:  # the same line whether or not it exists: no probing
        container.error(f"No data set {wanted!r} is open to you here"
                        + ("." if access.current().workspaces else ": a shop's workspaces need sign-in as its analyst.")
                        + " Showing the demo data.")
    choice = container.selectbox(label, options, format_func=labels.get, **pick(KEY, options),
                                 help="The demo data, or a shop's own: build a workspace on the Your data page "
                                      "(or with python -m recommend build) and it is listed here.")
    share(KEY, choice)
    return found.get(choice, choice)
