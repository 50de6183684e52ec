"""The shop's database out of reach (issue #31): Vitrine reads a real PostgreSQL server with one
parsed SELECT, in a read-only transaction, through the extended query protocol, as a role that can
only read; a superuser is refused, a role that could write is warned about, and every injection
tried leaves the orders as they were.

The server is tests/postgres.py's (roles made by deploy/postgres/roles.sql); the orders are loaded
into table `orders` by the superuser, and counted by it after every attack.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import InputError
from recommend import cli
from recommend.core import sources
from recommend.core.sources import SQL_PASSWORD_ENV, TableSource
from tests import postgres as pg

ROOT = Path(__file__).resolve().parents[2]
ROWS = 30547  # the demo orders (tests/postgres.py typed_sample)
WRITER = "shop_app"  # a role as a shop's own application has it: it may write to its orders


@pytest.fixture(scope="module")
def db(postgres):
    """The fixture server with the demo orders in `orders` (owned by the superuser, readable by
    vitrine_reader), a writer role, and the test password in $VITRINE_SQL_PASSWORD."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres.url(pg.SUPERUSER, with_password=True))
    pg.typed_sample().to_sql("orders", engine, index=False, if_exists="replace", chunksize=5000)
    engine.dispose()
    postgres.psql(f"GRANT SELECT ON orders TO {pg.READER}")  # roles.sql's default privileges do it too
    postgres.psql(f"DO $$ BEGIN CREATE ROLE {WRITER} LOGIN PASSWORD '{pg.PASSWORD}'; "
                  "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.psql(f"GRANT SELECT, INSERT, UPDATE ON orders TO {WRITER}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SQL_PASSWORD_ENV, pg.PASSWORD)
        mp.setattr(sources, "_ENGINES", {})
        yield postgres


def _orders_left(server) -> int:
    """The orders' row count, as the superuser sees it."""
    return int(server.psql("SELECT count(*) FROM orders"))


def _build(url: str, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    """`python -m recommend build` from the database, in its own process, as a shop runs it."""
    return subprocess.run([sys.executable, "-m", "recommend", "build", "--orders-sql", url, *flags, "--name", "shop",
                           "--artifacts", str(tmp_path / "artifacts")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, SQL_PASSWORD_ENV: pg.PASSWORD}, timeout=300)


def test_a_superuser_role_is_refused_in_one_line(db, tmp_path):
    done = _build(db.url(pg.SUPERUSER), tmp_path, "--orders-table", "orders")
    err = done.stderr.strip()
    assert done.returncode != 0, done.stdout
    assert len(err.splitlines()) == 1, err
    assert "The role postgres is a superuser" in err
    assert f"GRANT SELECT ON public.orders TO {pg.READER}" in err and "deploy/postgres/roles.sql" in err
    assert pg.PASSWORD not in err and not (tmp_path / "artifacts" / "shop").exists()


def test_a_role_that_can_write_to_what_it_reads_is_warned_with_the_grant(db, tmp_path, capsys):
    assert cli.main(["build", "--orders-sql", db.url(WRITER), "--orders-table", "orders", "--name", "shop",
                     "--artifacts", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "can write to" in line]
    assert len(warned) == 1, err
    assert f"the role {WRITER} can write to public.orders" in warned[0]
    assert f"GRANT SELECT ON public.orders TO {pg.READER}" in warned[0]
    # a query is warned about the tables sqlglot finds in it; the app gets the same line with the rows
    query = 'SELECT o."InvoiceNo", o."StockCode" FROM orders AS o JOIN orders AS p ON p."InvoiceNo" = o."InvoiceNo" LIMIT 5'
    rows = TableSource(url=db.url(WRITER), query=query).read(progress=False)
    assert [w for w in rows.attrs.get("warnings", []) if "GRANT SELECT ON public.orders TO" in w]
    assert "GRANT SELECT ON public.orders TO" in capsys.readouterr().err
    # the read-only role is not warned
    rows = TableSource(url=db.url(), table="orders").read(["InvoiceNo"], progress=False)
    assert len(rows) == ROWS and rows.attrs.get("warnings") == []
    assert "can write" not in capsys.readouterr().err


ATTACKS = {
    "a second statement": ("SELECT * FROM orders; DELETE FROM orders", "holds 2 statements"),
    "a data-modifying WITH": ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "holds DELETE"),
    "a break-out of the subquery": ('SELECT * FROM orders) AS s; DELETE FROM orders; --', "not SQL Vitrine can check"),
    "a break-out of the COPY": ("SELECT * FROM orders) TO STDOUT; DELETE FROM orders; --", "not SQL Vitrine can check"),
    "read-only switched off": ("SET default_transaction_read_only = off", "SET statement, not a SELECT"),
    "the session made writable": ("SELECT 1 AS x; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; "
                                  "DELETE FROM orders", "holds 3 statements"),
    "read-only switched off by a function": ("SELECT set_config('default_transaction_read_only', 'off', false)",
                                             "calls set_config()"),
    "a copy to a program": ("COPY orders TO PROGRAM 'touch /tmp/vitrine-pwned'", "COPY statement, not a SELECT"),
    "SELECT INTO": ("SELECT * INTO stolen FROM orders", "SELECT INTO"),
    "a lock": ("SELECT * FROM orders FOR UPDATE", "locking clause"),
    "the catalog": ('SELECT rolname AS "InvoiceNo", rolname AS "StockCode" FROM pg_catalog.pg_roles',
                    "the database's own catalog"),
    "the catalog unqualified": ("SELECT * FROM pg_settings", "the database's own catalog"),
    "information_schema": ("SELECT * FROM information_schema.tables", "the database's own catalog"),
    "the server's settings": ("SELECT current_setting('data_directory') AS \"InvoiceNo\", version() AS x",
                              "calls current_setting()"),
    "the catalogue probed by name": ("SELECT to_regclass('pg_authid') AS x, has_table_privilege('orders', 'update') AS y",
                                     "calls to_regclass()"),
    "the server's address": ("SELECT inet_server_addr() AS x", "calls inet_server_addr()"),
    "SQL run from a string": ("SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, true, '')",
                              "calls query_to_xml()"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_injection_is_refused_by_the_parser_and_the_orders_stay(db, attack, tmp_path, capsys):
    query, said = ATTACKS[attack]
    code = cli.main(["build", "--orders-sql", db.url(), "--orders-query", query, "--name", "shop",
                     "--artifacts", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert said in err, err
    assert _orders_left(db) == ROWS
    assert not Path("/tmp/vitrine-pwned").exists()
    assert not db.psql("SELECT to_regclass('public.stolen')")  # no table made


@pytest.mark.parametrize("table", ["pg_catalog.pg_roles", "information_schema.tables", "pg_settings",
                                   "PG_CATALOG.pg_authid"])
def test_the_table_box_refuses_the_catalog(db, table):
    with pytest.raises(InputError, match="the database's own catalog"):
        TableSource(url=db.url(), table=table).read(progress=False)


def test_the_driver_itself_refuses_a_second_statement_with_the_parser_bypassed(db):
    run = getattr(sources, "_run", None)
    assert run is not None, "sources has no single door to the driver (_run) for a rendered statement"
    with sources._reading(TableSource(url=db.url(), table="orders")) as reading:
        conn = reading.conn if hasattr(reading, "conn") else reading
        for stream in (False, True):  # a plain statement, and one on a server-side cursor
            # two harmless statements: read-only would let both run; the extended protocol refuses them
            with pytest.raises(Exception) as refused:
                run(conn, "SELECT 1; SELECT 2", stream=stream)
            assert "cannot insert multiple commands into a prepared statement" in sources.reason(refused.value)
            conn.rollback()
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    with pytest.raises(InputError, match="cannot insert multiple commands into a prepared statement"):
        with sources._reading(TableSource(url=db.url(), table="orders")) as reading:
            run(reading.conn, "SELECT 1; DELETE FROM orders")
    assert _orders_left(db) == ROWS


def test_the_read_only_transaction_cannot_be_undone(db):
    run = getattr(sources, "_run", None)
    assert run is not None, "sources has no single door to the driver (_run) for a rendered statement"
    # the role may change its own defaults (roles.sql made them read-only): Vitrine must not rely on them
    db.psql(f"BEGIN READ WRITE; ALTER ROLE {pg.READER} SET default_transaction_read_only = off; COMMIT",
            role=pg.READER)
    try:
        with sources._reading(TableSource(url=db.url(), table="orders")) as reading:
            conn = reading.conn
            run(conn, "SELECT 1")
            run(conn, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
            run(conn, "SET default_transaction_read_only = off")
            assert run(conn, "SHOW transaction_read_only").scalar() == "on"
            with pytest.raises(Exception, match="transaction read-write mode must be set before any query"):
                run(conn, "SET transaction_read_only = off")
        with pytest.raises(InputError, match="cannot execute DELETE in a read-only transaction"):
            with sources._reading(TableSource(url=db.url(), table="orders")) as reading:
                run(reading.conn, "DELETE FROM orders")
    finally:
        db.psql(f"ALTER ROLE {pg.READER} SET default_transaction_read_only = on")
    assert _orders_left(db) == ROWS


def test_a_postgresql_url_builds_a_workspace_end_to_end(db, tmp_path):
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert any(re.match(r"psycopg(\[[^\]]*\])?\s*([<>=!~]|$)", line.strip()) for line in requirements), \
        "requirements.txt lacks psycopg (3), the driver postgresql:// URLs need"
    done = _build(f"postgresql://{pg.READER}@127.0.0.1:{db.port}/{pg.DATABASE}", tmp_path, "--orders-table", "orders")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "artifacts" / "shop" / "manifest.json").read_text())
    assert manifest["source"]["table"] == "orders" and manifest["source"]["rows"] == ROWS
    assert "can write" not in done.stderr and pg.PASSWORD not in done.stderr + json.dumps(manifest)


def test_the_roles_sql_makes_a_reader_and_an_exporter_that_can_do_only_their_part(db):
    assert db.psql(f"SELECT rolsuper FROM pg_roles WHERE rolname IN ('{pg.READER}', '{pg.EXPORTER}')") == "f\nf"
    assert int(db.psql("SELECT count(*) FROM orders", role=pg.READER)) == ROWS
    assert db.psql("SHOW default_transaction_read_only", role=pg.READER) == "on"
    for statement in ("BEGIN READ WRITE; INSERT INTO orders DEFAULT VALUES; COMMIT",
                      "BEGIN READ WRITE; CREATE TABLE public.mine (a int); COMMIT"):
        with pytest.raises(RuntimeError, match="permission denied"):
            db.psql(statement, role=pg.READER)
    with pytest.raises(RuntimeError, match="permission denied"):
        db.psql("SELECT count(*) FROM public.orders", role=pg.EXPORTER)
    db.psql("CREATE TABLE vitrine_probe (a int); INSERT INTO vitrine_probe VALUES (1); DROP TABLE vitrine_probe",
            role=pg.EXPORTER)  # its own schema, first on its search_path
    again = pg.create_roles(db)  # safe to run again
    assert again.returncode == 0, again.stderr
    missing = pg.create_roles(db, export_password="")
    assert missing.returncode != 0 and "VITRINE_EXPORT_PASSWORD" in missing.stderr
    assert pg.PASSWORD not in again.stdout + again.stderr + missing.stdout + missing.stderr
