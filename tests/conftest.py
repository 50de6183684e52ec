"""Shared fixtures: one random-weights embedder and one tiny visual index per session (data makers: helpers.py)."""
from __future__ import annotations

import pytest

from tests.helpers import APP, write_tiny_catalogue


@pytest.fixture(scope="session")
def embedder():
    from embed.model import Embedder

    return Embedder("none", "fp32")


@pytest.fixture(scope="session")
def tiny_visual_index(tmp_path_factory, embedder):
    """A visual index of the ten-product catalogue, built once with random weights."""
    from embed.build import build_index

    root = tmp_path_factory.mktemp("tiny_shop")
    images, catalogue = write_tiny_catalogue(root)
    build_index(images, root / "index", catalogue=catalogue, embedder=embedder, progress=False)
    return root / "index", images, catalogue


def _use_tiny_index(mp: pytest.MonkeyPatch, tiny_visual_index) -> None:
    import settings

    index, images, catalogue = tiny_visual_index
    mp.setattr(settings, "DEMO_VISUAL_INDEX", index)
    mp.setattr(settings, "DEMO_FASHION_IMAGES", images)
    mp.setattr(settings, "DEMO_FASHION_CATALOGUE", catalogue)
    mp.setattr(settings, "WEIGHTS", "none")


@pytest.fixture
def app_uses_tiny_index(tiny_visual_index, monkeypatch):
    """Point the app's visual search at the tiny index with random weights (no network)."""
    _use_tiny_index(monkeypatch, tiny_visual_index)
    return tiny_visual_index


@pytest.fixture(scope="module")
def app_run(tiny_visual_index):
    """The whole app, run once per test module on the tiny index, for tests that only read the page."""
    from streamlit.testing.v1 import AppTest

    with pytest.MonkeyPatch.context() as mp:
        _use_tiny_index(mp, tiny_visual_index)
        at = AppTest.from_file(APP, default_timeout=30)
        at.run()
        yield at


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on a free port of 127.0.0.1 (tests/postgres.py), for the whole run."""
    from tests import postgres as pg

    server, stop = pg.start()
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def shop_db(postgres):
    """The demo orders (tests/postgres.py typed_sample) in table `order_lines` of the PostgreSQL
    fixture, loaded by the superuser; the URL of the read-only role vitrine_reader (postgresql://,
    psycopg 3) without the password, which is in $VITRINE_SQL_PASSWORD for the session (the same
    test password for every role)."""
    import sqlalchemy as sa

    from recommend.core.sources import SQL_PASSWORD_ENV
    from tests import postgres as pg

    engine = sa.create_engine(postgres.url(pg.SUPERUSER, with_password=True))
    pg.typed_sample().to_sql("order_lines", engine, index=False, if_exists="replace", chunksize=5000)
    engine.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SQL_PASSWORD_ENV, pg.PASSWORD)
        yield postgres.url()


@pytest.fixture(scope="session")
def tiny_shop_workspace(tmp_path_factory):
    """Workspace "tiny" of the ten tiny products: orders and a catalogue with pictures on the same
    ids (tests/helpers.py write_tiny_shop), built once with random weights: (artifacts folder, Workspace)."""
    from recommend import cli
    from recommend.workspace import model
    from tests.helpers import write_tiny_shop

    root = tmp_path_factory.mktemp("tiny_shop_workspace")
    orders, catalogue = write_tiny_shop(root / "shop")
    assert cli.main(["build", "--orders", str(orders), "--catalogue", str(catalogue), "--weights", "none",
                     "--name", "tiny", "--artifacts", str(root / "artifacts")]) == 0
    return root / "artifacts", model.open_workspace("tiny", root / "artifacts")


@pytest.fixture(scope="module")
def spark():
    """One local Spark session (2 threads) per test module that asks for it, stopped after the module."""
    from common.spark import session

    s = session("local[2]", {"spark.sql.shuffle.partitions": "2"})  # test data is small: fewer, larger tasks
    yield s
    s.stop()
