"""Where a shop's table comes from: a file (CSV, CSV.gz, .xlsx, Parquet) or a SQL database.

One `TableSource` serves every sub-command and the workspace build: `columns()` for the mapping,
`read(columns)` for the rows (every value as text, as a CSV holds it, so a table read from a
database builds exactly what its CSV export builds), `describe()` for manifests (a file's digest;
a database's URL without its password, the query or table, the row count).

Databases go through SQLAlchemy. Vitrine only reads: the transaction is made read-only where the
database has such a thing (PostgreSQL, SQLite; MySQL's session setting), so even a query that
tries to write is refused by the server. Rows arrive in chunks of CHUNK_ROWS through a
server-side cursor, with a progress bar on a terminal. The password comes from the environment
(SQL_PASSWORD_ENV, or the driver's own, e.g. PGPASSWORD), or the whole URL from a file given as
`@FILE`; it is never needed on the command line and never written anywhere.
"""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from common.artifacts import file_sha256
from common.errors import InputError
from common.shop_tables import PARQUET_MAGIC, ZIP_MAGIC, as_text, read_table
from common.tables import csv_columns, read_bytes

SQL_PASSWORD_ENV = "VITRINE_SQL_PASSWORD"
CHUNK_ROWS = 100_000  # rows fetched at a time: a few tens of MB of text per chunk
_TEXT_SUFFIXES = (".csv", ".gz", ".txt", ".tsv")


@dataclass(frozen=True)
class TableSource:
    """A file (`path`), or a database (`url`) with a `query` or a `table`; `what` names it in messages."""

    path: Path | None = None
    url: str | None = None
    query: str | None = None
    table: str | None = None
    what: str = "Orders"
    engine: Any = None  # an SQLAlchemy engine made elsewhere (the app's st.connection), instead of `url`

    def __post_init__(self):
        sql = self.url is not None or self.engine is not None
        if sql == (self.path is not None):
            raise InputError(f"Give the {self.what.lower()} as a file or as a database, not both or neither.")
        if sql and (self.query is None) == (self.table is None):
            raise InputError(f"Reading {self.what.lower()} from a database needs a query or a table name "
                             f"(--{self.what.lower()}-query \"SELECT ...\" or --{self.what.lower()}-table NAME), "
                             "one of them.")
        if not sql and (self.query is not None or self.table is not None):
            raise InputError(f"A query or table name reads from a database: give its URL with "
                             f"--{self.what.lower()}-sql URL.")

    @property
    def is_sql(self) -> bool:
        return self.path is None

    @property
    def name(self) -> str:
        """For messages: the file's name, or "table orders" / "the query"."""
        if not self.is_sql:
            return Path(self.path).name
        return f"table {self.table}" if self.table else "the query"

    def columns(self) -> list[str]:
        """The table's column names, without reading its rows (a file's header; a query's result columns)."""
        if not self.is_sql:
            path = Path(self.path)
            if not path.is_file():
                raise InputError(f"{self.what} file {path} not found.")
            if _is_binary_table(path):
                return list(read_table(path, what=self.what).columns)
            return csv_columns(path, what=self.what)
        with _reading(self) as conn:
            return _keys(conn, self)

    def read(self, columns: Sequence[str] | None = None, *, progress: bool | None = None) -> pd.DataFrame:
        """The rows (only `columns`, when given), every value as text ("" for blank or NULL);
        `attrs["read"]` says how, `attrs["rows"]` how many."""
        if not self.is_sql:
            table = read_table(Path(self.path), what=self.what)
            if columns is not None:
                _require(table.columns, columns, self)
                table = table[list(dict.fromkeys(columns))]
            return table
        progress = sys.stderr.isatty() if progress is None else progress
        with _reading(self) as conn:
            total = _count(conn, self) if progress else None
            with _Progress(progress, total, f"Reading {self.name}") as bar:
                if _copies_csv(conn):
                    table = _read_by_copy(conn, self, columns, bar)
                else:
                    table = _read_by_rows(conn, self, columns, bar)
        table.attrs["read"] = {"format": "sql", "dialect": self.dialect()}
        return table

    def dialect(self) -> str:
        return _engine(self).dialect.name if self.is_sql else ""

    def describe(self, rows: int | None = None) -> dict:
        """What a manifest records: the file and its digest, or the database (no password), the
        query or table, and the rows read."""
        if not self.is_sql:
            path = Path(self.path)
            return {"file": str(path), "sha256": file_sha256(path)}
        shown = _engine(self).url.render_as_string(hide_password=True)
        out = {"sql": shown, ("query" if self.query else "table"): self.query or self.table}
        if rows is not None:
            out["rows"] = int(rows)
        return out


class _Progress:
    """Rows read so far: a tqdm bar (progress=True), a callback(rows, total) (the app's), or nothing."""

    def __init__(self, progress, total: int | None, desc: str):
        self.bar, self.call, self.rows, self.total = None, None, 0, total
        if callable(progress):
            self.call = progress
        elif progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=" rows", unit_scale=True, desc=desc, file=sys.stderr)

    def update(self, rows: int) -> None:
        self.rows += rows
        if self.bar is not None:
            self.bar.update(rows)
        if self.call is not None:
            self.call(self.rows, self.total)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _read_by_rows(conn, source: "TableSource", columns, bar: _Progress) -> pd.DataFrame:
    """Any database: rows from a server-side cursor, CHUNK_ROWS at a time, each made text."""
    result = _select(conn, source, columns)
    names = [str(c) for c in result.keys()]
    chunks = []
    for rows in result.partitions(CHUNK_ROWS):
        chunk = pd.DataFrame.from_records(rows, columns=names, coerce_float=False)
        chunks.append(chunk.apply(as_text) if len(chunk) else chunk.astype(object))
        bar.update(len(rows))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=names, dtype=object)


def _copies_csv(conn) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"


class _CountingWriter:
    """A file that counts the CSV lines written to it, for the progress."""

    def __init__(self, file, bar: _Progress):
        self.file, self.bar, self.pending = file, bar, 0

    def write(self, data) -> int:
        self.pending += data.count(b"\n")
        if self.pending >= CHUNK_ROWS:
            self.bar.update(self.pending)
            self.pending = 0
        return self.file.write(data)


def _read_by_copy(conn, source: "TableSource", columns, bar: _Progress) -> pd.DataFrame:
    """PostgreSQL: COPY (the query) TO STDOUT as CSV, streamed to a temporary file, then parsed by
    pandas' C reader as text. Measured (bench/workspace_build.py) several times faster than rows
    through the cursor and with a lower peak: the text is the server's, as a CSV export holds it."""
    if columns is not None:
        _require(_keys(conn, source), columns, source)
    statement = _statement(source, columns)
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.dbapi_connection
    with tempfile.TemporaryFile() as spool:
        writer = _CountingWriter(spool, bar)
        with raw.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')", writer)
        bar.update(max(writer.pending - 1, 0))  # the header is no row
        spool.seek(0)
        try:
            return pd.read_csv(spool, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=_keys(conn, source), dtype=object)


def _is_binary_table(path: Path) -> bool:
    """An .xlsx or Parquet file (told by its first bytes, as read_table tells them)."""
    head = read_bytes(path, what="Orders")[:4] if path.suffix.lower() not in _TEXT_SUFFIXES else b""
    return head in (ZIP_MAGIC, PARQUET_MAGIC)


def _require(found, wanted: Sequence[str], source: TableSource) -> None:
    missing = [c for c in wanted if c not in list(found)]
    if missing:
        raise InputError(f"{source.what} ({source.name}) lack column(s) {', '.join(map(repr, missing))}; "
                         f"found {', '.join(map(str, found))}.")


_ENGINES: dict[str, Any] = {}


def database_url(text: str) -> str:
    """The URL as given, or read from the file named after an "@" (so no secret is typed on a command line)."""
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"Cannot read the database URL from {path}: {exc.strerror or exc}.") from exc
    return text


def _engine(source: TableSource):
    if source.engine is not None:
        return source.engine
    url_text = database_url(source.url)
    if url_text not in _ENGINES:
        _ENGINES[url_text] = engine_for(source.url)
    return _ENGINES[url_text]


def engine_for(url_text: str, *, existing: bool = True):
    """An SQLAlchemy engine for a URL as a user gives it (or "@FILE"), the password filled in from
    $VITRINE_SQL_PASSWORD when the URL names a user but no password. `existing`: an SQLite file
    must be there (SQLite would silently create an empty one). Reading uses one cached engine per
    URL whose sessions are read-only, so a writer (the export) makes its own."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(database_url(url_text))
    except ArgumentError as exc:
        raise InputError(f"{url_text!r} is not a database URL; write it as SQLAlchemy does, e.g. "
                         "postgresql://user@host:5432/shop or sqlite:///shop.db.") from exc
    if url.username and url.password is None and os.environ.get(SQL_PASSWORD_ENV):
        url = url.set(password=os.environ[SQL_PASSWORD_ENV])
    if existing and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            raise InputError(f"SQLite database {url.database} not found.")
    try:
        return create_engine(url)
    except NoSuchModuleError as exc:
        raise InputError(f"No SQLAlchemy driver for {url.drivername!r} is installed; install it (for PostgreSQL, "
                         "psycopg2-binary is in requirements.txt) or use another URL.") from exc
    except ModuleNotFoundError as exc:
        raise InputError(f"The database driver {exc.name!r} for {url.drivername!r} is not installed; "
                         f"pip install it.") from exc


def reason(exc: Exception) -> str:
    """The server's own first line, without SQLAlchemy's wrapping and links."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0].rstrip(".") if text else type(original).__name__


_READ_ONLY = {"postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
              "sqlite": "PRAGMA query_only = ON",
              "mysql": "SET SESSION TRANSACTION READ ONLY", "mariadb": "SET SESSION TRANSACTION READ ONLY"}


class _reading:
    """A read-only connection: `with _reading(source) as conn:`; a refused connection or query is
    an InputError that names the database (without its password) and the server's reason."""

    def __init__(self, source: TableSource):
        self.source = source

    def __enter__(self):
        from sqlalchemy.exc import SQLAlchemyError

        engine = _engine(self.source)
        try:
            self.conn = engine.connect()
            dialect = engine.dialect.name
            # The session, not one transaction, is made read-only, then committed: whatever the
            # driver or pool ran first, every transaction from here on can only read.
            statement = _READ_ONLY.get(dialect)
            if statement:
                self.conn.exec_driver_sql(statement)
                self.conn.commit()
        except SQLAlchemyError as exc:
            raise InputError(f"Cannot connect to {engine.url.render_as_string(hide_password=True)}: "
                             f"{reason(exc)}. Check the URL, that the server runs, and the password "
                             f"(${SQL_PASSWORD_ENV} or the driver's own, e.g. $PGPASSWORD).") from None
        return self.conn

    def __exit__(self, kind, exc, tb):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self.conn.rollback()  # nothing to keep: Vitrine never writes here
            self.conn.close()
        except SQLAlchemyError:
            pass
        dbapi_error = getattr(getattr(self.conn.dialect, "dbapi", None), "Error", ())  # raised by COPY
        if isinstance(exc, SQLAlchemyError) or (dbapi_error and isinstance(exc, dbapi_error)):
            raise InputError(f"The database refused to read {self.source.what.lower()} ({self.source.name}): "
                             f"{reason(exc)}.") from None
        return False


def _statement(source: TableSource, columns: Sequence[str] | None, count: bool = False):
    from sqlalchemy import column, func, select, table, text

    if source.table:
        schema, _, name = source.table.rpartition(".")
        base = table(name, schema=schema or None)
    else:
        query = source.query.strip().rstrip(";").strip()
        if not query:
            raise InputError("The orders query is empty; give a SELECT statement.")
        base = text(query).columns().subquery("vitrine_source") if columns or count else text(query)
    if count:
        return select(func.count()).select_from(base)
    if columns:
        return select(*[column(c) for c in dict.fromkeys(columns)]).select_from(base)
    if source.table:
        return select(text("*")).select_from(base)
    return base


def _select(conn, source: TableSource, columns: Sequence[str] | None):
    """The rows, streamed (a server-side cursor where the driver has one)."""
    if columns is not None:
        _require(_keys(conn, source), columns, source)
    return conn.execution_options(stream_results=True, max_row_buffer=CHUNK_ROWS).execute(
        _statement(source, columns))


def _keys(conn, source: TableSource) -> list[str]:
    """The result's column names: the statement is opened on a server-side cursor and closed unread."""
    result = conn.execution_options(stream_results=True).execute(_statement(source, None))
    try:
        return [str(c) for c in result.keys()]
    finally:
        result.close()


def _count(conn, source: TableSource) -> int | None:
    """The rows to come, for the progress bar (None if the database cannot say)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return int(conn.execute(_statement(source, None, count=True)).scalar())
    except SQLAlchemyError:
        return None
