"""Where a shop's table comes from: a file (CSV, CSV.gz, .xlsx, Parquet) or a SQL database.

One `TableSource` serves every sub-command and the workspace build: `columns()` for the mapping,
`read(columns)` for the rows (every value as text, as a CSV holds it, so a table read from a
database builds exactly what its CSV export builds), `describe()` for manifests (a file's digest;
a database's URL without its password, the query or table, the row count).

Databases go through SQLAlchemy, and Vitrine only reads, behind several locks (docs/deploying.md):
- a query must be one SELECT (or WITH ... SELECT), checked by sqlglot in the database's dialect;
  no statement that writes, locks, sets or copies, no system catalog (pg_catalog,
  information_schema ...), no function that runs SQL text or reaches files or other servers. What
  reaches the database is rendered from the parsed tree, Vitrine's own wrappers (the count, the
  column selection, the COPY) included: the user's text is never pasted into a statement;
- PostgreSQL: every read is one transaction whose first statement is SET TRANSACTION READ ONLY
  (so no setting a query could change makes it writable), and psycopg 3 sends every statement
  through the extended query protocol, where the server itself refuses a second statement;
  a superuser role (or one that may run programs or touch files on the server) is refused, and a
  role that can write to the tables it reads is warned about, with the GRANT that reads instead;
- SQLite, MySQL: the session is made read-only (PRAGMA query_only; SET SESSION TRANSACTION READ ONLY).
Rows arrive in chunks of CHUNK_ROWS through a server-side cursor (PostgreSQL: COPY ... TO STDOUT),
with a progress bar on a terminal. The password comes from the environment (SQL_PASSWORD_ENV, or
the driver's own, e.g. PGPASSWORD), or the whole URL from a file given as `@FILE`; it is never
needed on the command line and never written anywhere.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from common.artifacts import file_sha256
from common.errors import InputError, require_columns
from common.redact import redact_url
from common.shop_tables import PARQUET_MAGIC, ZIP_MAGIC, as_text, read_table
from common.tables import csv_columns, read_bytes

SQL_PASSWORD_ENV = "VITRINE_SQL_PASSWORD"
CHUNK_ROWS = 100_000  # rows fetched at a time: a few tens of MB of text per chunk
_TEXT_SUFFIXES = (".csv", ".gz", ".txt", ".tsv")
READER_ROLE = "vitrine_reader"  # the read-only role deploy/postgres/roles.sql makes
# sqlglot says on its logger when it keeps a statement it cannot parse as an opaque Command; that is
# refused here with its own message, so its note must not reach the user's terminal as a second line.
logging.getLogger("sqlglot").addHandler(logging.NullHandler())


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
        with _reading(self) as reading:
            return _keys(reading.conn, self)

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
        with _reading(self) as reading:
            conn = reading.conn
            total = _count(conn, self) if progress else None
            with BuildProgress(progress, total, f"Reading {self.name}") as bar:
                if _copies_csv(conn):
                    table = _read_by_copy(conn, self, columns, bar)
                else:
                    table = _read_by_rows(conn, self, columns, bar)
        table.attrs["read"] = {"format": "sql", "dialect": self.dialect()}
        table.attrs["warnings"] = list(reading.warnings)  # for the app to show; the CLI has them on stderr
        for warning in reading.warnings:
            print(f"Warning: {warning}", file=sys.stderr)
        return table

    def dialect(self) -> str:
        return _engine(self).dialect.name if self.is_sql else ""

    def describe(self, rows: int | None = None) -> dict:
        """What a manifest records: the file and its digest, or the database (no password), the
        query or table, and the rows read."""
        if not self.is_sql:
            path = Path(self.path)
            return {"file": str(path), "sha256": file_sha256(path)}
        shown = redact_url(_engine(self).url.render_as_string(hide_password=True))  # ?password= too
        out = {"sql": shown, ("query" if self.query else "table"): self.query or self.table}
        if rows is not None:
            out["rows"] = int(rows)
        return out


class BuildProgress:
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


def _read_by_rows(conn, source: "TableSource", columns, bar: BuildProgress) -> pd.DataFrame:
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
    return conn.dialect.name == "postgresql" and conn.dialect.driver in ("psycopg", "psycopg2")


class _CountingWriter:
    """A file that counts the CSV lines written to it, for the progress (psycopg2's copy_expert)."""

    def __init__(self, file, bar: BuildProgress):
        self.file, self.bar, self.pending = file, bar, 0

    def write(self, data) -> int:
        self.pending += data.count(b"\n")
        if self.pending >= CHUNK_ROWS:
            self.bar.update(self.pending)
            self.pending = 0
        return self.file.write(data)


def _read_by_copy(conn, source: "TableSource", columns, bar: BuildProgress) -> pd.DataFrame:
    """PostgreSQL: COPY (the statement) TO STDOUT as CSV, streamed to a temporary file, then parsed by
    pandas' C reader as text. Measured (bench/workspace_build.py) several times faster than rows
    through the cursor and with a lower peak: the text is the server's, as a CSV export holds it.
    The statement is first opened on a cursor (_keys: the extended protocol, one statement only),
    and the COPY is rendered from the same tree."""
    keys = _keys(conn, source)
    if columns is not None:
        _require(keys, columns, source)
    copy = _copy_statement(source, conn.dialect, columns)
    raw = conn.connection.dbapi_connection
    with tempfile.TemporaryFile() as spool:
        with raw.cursor() as cursor:
            if conn.dialect.driver == "psycopg2":
                writer = _CountingWriter(spool, bar)
                cursor.copy_expert(copy, writer)
                bar.update(max(writer.pending - 1, 0))  # the header is no row
            else:
                try:
                    _copy_out_psycopg(raw.pgconn, copy, spool, bar)
                except BaseException:
                    conn.invalidate()  # a COPY cut short leaves the connection mid-protocol: never reused
                    raise
        spool.seek(0)
        try:
            return pd.read_csv(spool, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=keys if columns is None else list(dict.fromkeys(columns)), dtype=object)


def _copy_out_psycopg(pgconn, copy: str, spool, bar: BuildProgress) -> None:
    """psycopg 3: COPY ... TO STDOUT into `spool`, by the extended query protocol (one statement
    only), reading libpq's rows in a tight loop. Written by hand on psycopg's documented libpq layer
    (`Connection.pgconn`) because psycopg's `cursor.copy()` iterator waits once per row: 1.66 s
    against 0.84 s for the same 2,000,000 lines (and psycopg2's copy_expert 0.92 s), measured on
    this 2-core EPYC; see bench/workspace_build.py for the whole read."""
    from psycopg import errors, pq

    pgconn.send_query_params(copy.encode("utf-8"), None)
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        message = (result.error_message.decode("utf-8", "replace").strip() if result is not None else "no result")
        while pgconn.get_result() is not None:
            pass
        raise errors.DatabaseError(message.splitlines()[0] if message else "COPY did not start")
    write, get, rows = spool.write, pgconn.get_copy_data, -1  # the header is no row; libpq gives one row each
    while True:
        size, data = get(0)
        if size < 0:
            break
        write(data)
        rows += 1
        if rows >= CHUNK_ROWS:
            bar.update(rows)
            rows = 0
    bar.update(max(rows, 0))
    failed = None
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK:
            failed = result.error_message.decode("utf-8", "replace").strip()
    if failed:
        raise errors.DatabaseError(failed.splitlines()[0])


def _is_binary_table(path: Path) -> bool:
    """An .xlsx or Parquet file (told by its first bytes, as read_table tells them)."""
    head = read_bytes(path, what="Orders")[:4] if path.suffix.lower() not in _TEXT_SUFFIXES else b""
    return head in (ZIP_MAGIC, PARQUET_MAGIC)


def _require(found, wanted: Sequence[str], source: TableSource) -> None:
    require_columns(list(found), wanted, f"{source.what} ({source.name})", shown=len(list(found)))


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
    must be there (SQLite would silently create an empty one). postgresql:// means psycopg 3
    (SQLAlchemy 2's default); postgresql+psycopg2:// works too. Reading uses one cached engine per
    URL, every read in its own read-only transaction, so a writer (the export) makes its own."""
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
                         "psycopg[binary] is in requirements.txt) or use another URL.") from exc
    except ModuleNotFoundError as exc:
        raise InputError(f"The database driver {exc.name!r} for {url.drivername!r} is not installed; "
                         f"pip install it.") from exc


def reason(exc: Exception) -> str:
    """The server's own first line, without SQLAlchemy's wrapping and links."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0].rstrip(".") if text else type(original).__name__


# --- The statement: parsed, checked and rendered by sqlglot ---------------------------------------

# SQLAlchemy's dialect names -> sqlglot's; a dialect sqlglot does not know is parsed as generic SQL.
SQLGLOT_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql",
                    "mssql": "tsql", "oracle": "oracle", "snowflake": "snowflake", "bigquery": "bigquery",
                    "duckdb": "duckdb", "redshift": "redshift", "trino": "trino", "presto": "presto",
                    "databricks": "databricks", "clickhouse": "clickhouse", "hive": "hive", "spark": "spark",
                    "teradata": "teradata", "exasol": "exasol", "doris": "doris", "starrocks": "starrocks"}
# Schemas (lower case) and table-name prefixes of each database's own catalog, never read for a shop.
_SYSTEM_SCHEMAS = {"postgres": {"pg_catalog", "information_schema", "pg_toast"},
                   "redshift": {"pg_catalog", "information_schema"},
                   "mysql": {"information_schema", "mysql", "performance_schema", "sys"},
                   "tsql": {"sys", "information_schema"}, "snowflake": {"information_schema"},
                   "duckdb": {"information_schema", "pg_catalog"}}
_SYSTEM_PREFIXES = {"postgres": ("pg_",), "redshift": ("pg_", "stl_", "stv_", "svl_", "svv_"),
                    "sqlite": ("sqlite_",), "duckdb": ("duckdb_",)}
# Functions a query may not call: those that run SQL given as text (it would skip the parser), reach
# other servers or the server's files, change settings, or are the catalog's own (pg_*: sleep,
# signal other sessions, read files, take advisory locks ...).
_REFUSED_FUNCTION = re.compile(r"(pg_|lo_|dblink|set_config$|query_to_xml|cursor_to_xml|table_to_xml|"
                               r"schema_to_xml|database_to_xml|load_extension$|sys_exec|sys_eval|"
                               # the server's settings, addresses and catalogue, probed by name; sequences moved
                               r"current_setting$|version$|inet_client_|inet_server_|has_\w+_privilege$|to_reg|"
                               r"txid_|nextval$|setval$)", re.IGNORECASE)


def sqlglot_dialect(dialect_name: str) -> str | None:
    """The sqlglot dialect for an SQLAlchemy dialect name (None: sqlglot's generic SQL)."""
    return SQLGLOT_DIALECTS.get(dialect_name)


def _refused_nodes():
    """Expression types that do anything but read: statements that write, define, set, lock, copy or
    run commands, SELECT INTO, and bind parameters (a query has no values to bind)."""
    from sqlglot import exp

    names = ("DML", "DDL", "Command", "Copy", "Set", "Into", "Lock", "Transaction", "Commit", "Rollback",
             "Pragma", "Use", "Alter", "Drop", "TruncateTable", "LoadData", "Grant", "Revoke", "Merge",
             "Describe", "Kill", "Analyze", "Cache", "Uncache", "Refresh", "Show", "Declare", "Execute",
             "Attach", "Detach", "Export", "Comment", "Placeholder", "Parameter")
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))


_WHAT = {"Delete": "DELETE", "Insert": "INSERT", "Update": "UPDATE", "Merge": "MERGE", "Into": "SELECT INTO",
         "Lock": "a locking clause (FOR UPDATE / FOR SHARE)", "Set": "SET", "Copy": "COPY",
         "Placeholder": "a bind parameter", "Parameter": "a bind parameter", "Command": "a command"}


def check_query(text: str, dialect_name: str, what: str = "orders"):
    """The query as a checked sqlglot tree: exactly one SELECT (or WITH ... SELECT, or a UNION of them)
    in the database's dialect, reading no system catalog and calling no refused function. Anything
    else is an InputError that says what was found and what is wanted."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    wanted = f"give the {what} query as one SELECT statement"
    dialect = sqlglot_dialect(dialect_name)
    try:
        statements = [s for s in sqlglot.parse(text or "", read=dialect) if s is not None]
    except SqlglotError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"The {what} query is not SQL Vitrine can check ({first}); {wanted}.") from None
    if not statements:
        raise InputError(f"The {what} query is empty; {wanted}.")
    if len(statements) > 1:
        raise InputError(f"The {what} query holds {len(statements)} statements; {wanted}, without ';' between.")
    tree = statements[0]
    while isinstance(tree, exp.Subquery) and not tree.alias:  # (SELECT ...): the parentheses say nothing
        tree = tree.this
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        kind = _WHAT.get(type(tree).__name__, type(tree).__name__.upper())
        shown = tree.name.upper() if isinstance(tree, exp.Command) and tree.name else kind
        article = "an" if shown[:1] in "AEIOU" else "a"
        raise InputError(f"The {what} query is {article} {shown} statement, not a SELECT; {wanted} "
                         "(Vitrine only reads).")
    refused = _refused_nodes()
    for node in tree.walk():
        if isinstance(node, refused):
            kind = _WHAT.get(type(node).__name__) or next(
                (_WHAT[c.__name__] for c in type(node).__mro__ if c.__name__ in _WHAT), type(node).__name__.upper())
            raise InputError(f"The {what} query holds {kind}; {wanted} that only reads (Vitrine never writes, "
                             "locks or sets anything).")
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _REFUSED_FUNCTION.match(name or ""):
                raise InputError(f"The {what} query calls {name.lower()}(), which Vitrine does not run (it runs SQL "
                                 "text, reaches files or other servers, or is the database's own); "
                                 f"{wanted} on the shop's tables.")
    for table in _tables_read(tree):
        _refuse_system_table(table, dialect, f"The {what} query reads")
    return tree


def _tables_read(tree) -> list:
    """The tables (sqlglot Table nodes) a query reads: named ones, not its WITH names or functions."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    out = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a function in FROM (generate_series ...): checked as a function
        if not table.db and table.name.lower() in ctes:
            continue
        out.append(table)
    return out


def _refuse_system_table(table, dialect: str | None, said: str) -> None:
    """An InputError when the table is one of the database's own catalog (`said` begins the message)."""
    schema, name = (table.db or "").lower(), table.name.lower()
    system = _SYSTEM_SCHEMAS.get(dialect, {"information_schema"})
    prefixes = _SYSTEM_PREFIXES.get(dialect, ())
    if schema in system or (dialect in ("postgres", "redshift") and schema.startswith("pg_")) or \
            (not schema and name.startswith(prefixes) and prefixes):
        shown = f"{table.db}.{table.name}" if table.db else table.name
        raise InputError(f"{said} {shown}, a table of the database's own catalog; Vitrine reads only the shop's "
                         "tables: name one of them.")


def _identifier(name: str, dialect):
    """An sqlglot identifier quoted as SQLAlchemy quotes it for this database (when it must be)."""
    from sqlglot import exp

    return exp.to_identifier(name, quoted=dialect.identifier_preparer.quote(name) != name)


def table_expression(name: str, dialect, what: str = "orders"):
    """--orders-table NAME (or SCHEMA.NAME) as an sqlglot Table, each part an identifier (never SQL),
    refused when it names the database's own catalog."""
    from sqlglot import exp

    schema, _, table = name.strip().rpartition(".")
    if not table:
        raise InputError(f"The {what} table name is empty; give the table's name (or SCHEMA.NAME).")
    node = exp.Table(this=_identifier(table, dialect), db=_identifier(schema, dialect) if schema else None)
    _refuse_system_table(node, sqlglot_dialect(dialect.name), f"The {what} table is")
    return node


def _base(source: TableSource, dialect):
    """The source as a checked sqlglot query: SELECT * FROM the table, or the parsed query."""
    from sqlglot import exp

    if source.table:
        return exp.select(exp.Star()).from_(table_expression(source.table, dialect, source.what.lower()))
    return check_query(source.query, dialect.name, source.what.lower())


def _statement_tree(source: TableSource, dialect, columns: Sequence[str] | None, count: bool = False):
    """Vitrine's statement as a tree: the source itself, its columns, or its row count; built around the
    parsed query as a subquery, never around its text."""
    from sqlglot import exp

    base = _base(source, dialect)
    if not columns and not count:
        return base
    if source.table:
        inner = table_expression(source.table, dialect, source.what.lower())
    else:
        inner = base.subquery("vitrine_source")
    if count:
        return exp.select(exp.Count(this=exp.Star())).from_(inner)
    return exp.select(*[exp.column(_identifier(c, dialect)) for c in dict.fromkeys(columns)]).from_(inner)


def render(tree, dialect) -> str:
    """The tree as SQL of the database's dialect, without comments; checked to parse back as one
    statement (a rendering that did not would be a bug here, never the user's doing)."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, UnsupportedError

    name = sqlglot_dialect(dialect.name)
    try:  # a part the dialect cannot say is refused, never silently dropped
        sql = tree.sql(dialect=name, comments=False, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"Vitrine cannot render this query for {dialect.name} as written ({first}); "
                         "write it more plainly, as one SELECT.") from None
    if len([s for s in sqlglot.parse(sql, read=name) if s is not None]) != 1:
        raise RuntimeError(f"the statement rendered for {dialect.name} is not one statement: {sql[:200]}")
    return sql


def _statement(source: TableSource, dialect, columns: Sequence[str] | None, count: bool = False) -> str:
    return render(_statement_tree(source, dialect, columns, count), dialect)


def _copy_statement(source: TableSource, dialect, columns: Sequence[str] | None) -> str:
    """COPY (the statement) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8'), from the tree."""
    from sqlglot import exp

    tree = _statement_tree(source, dialect, columns)
    options = {"FORMAT": exp.var("csv"), "HEADER": exp.true(), "ENCODING": exp.Literal.string("UTF8")}
    copy = exp.Copy(this=tree.subquery(), kind=False, files=[exp.to_identifier("STDOUT")],
                    params=[exp.CopyParameter(this=exp.var(k), expression=v) for k, v in options.items()])
    return render(copy, dialect)


# --- Reading: the connection, its transaction, the role ------------------------------------------

_READ_ONLY = {"sqlite": "PRAGMA query_only = ON",
              "mysql": "SET SESSION TRANSACTION READ ONLY", "mariadb": "SET SESSION TRANSACTION READ ONLY"}
# PostgreSQL's built-in roles that reach beyond the database: refused like a superuser.
_SERVER_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")


def _run(conn, sql: str, *, stream: bool = False):
    """The one door to the driver for a rendered statement: no parameters (so no driver rewrites the
    text), a server-side cursor when `stream`. Under _reading, psycopg 3 sends it through the
    extended query protocol, where the server parses exactly one statement."""
    options = {"no_parameters": True}
    if stream:
        options.update(stream_results=True, max_row_buffer=CHUNK_ROWS)
    return conn.exec_driver_sql(sql, execution_options=options)  # for this statement, not the connection


def _quoted_table(dialect, schema: str, name: str) -> str:
    """schema.table as SQL, each part quoted where the database needs it (SQLAlchemy's quoting)."""
    preparer = dialect.identifier_preparer
    return f"{preparer.quote_schema(schema)}.{preparer.quote(name)}"


def refuse_superuser(conn, tables: Sequence[str] = ()) -> str:
    """PostgreSQL: the connection's role, refused (one-line InputError) when it is a superuser or may
    run programs or read and write files on the server; the message gives the GRANT for `tables` (SQL
    names). For Vitrine's reads, and for anything else that connects (the export)."""
    from sqlalchemy import text

    row = conn.execute(text(
        "SELECT current_user, rolsuper, " + ", ".join(f"pg_has_role(current_user, '{r}', 'USAGE')" for r in _SERVER_ROLES)
        + " FROM pg_roles WHERE rolname = current_user")).one()
    role, superuser, server = row[0], row[1], [r for r, member in zip(_SERVER_ROLES, row[2:]) if member]
    if not superuser and not server:
        return role
    names = ", ".join(name for name, _ in _privileges(conn, tables)) or "ALL TABLES IN SCHEMA public"
    fix = (f"read with a read-only role: CREATE ROLE {READER_ROLE} LOGIN PASSWORD '...'; GRANT SELECT ON {names} "
           f"TO {READER_ROLE} (deploy/postgres/roles.sql makes it), and connect as {READER_ROLE}")
    if superuser:
        raise InputError(f"The role {role} is a superuser; {fix}.")
    raise InputError(f"The role {role} may run programs or touch files on the database server (member of "
                     f"{', '.join(server)}); {fix}.")


def _privileges(conn, tables: Sequence[str]) -> list[tuple[str, bool]]:
    """PostgreSQL: (schema.table, quoted where needed; whether the role may write to it) for each of
    `tables` (SQL names, as a query writes them) that exists."""
    from sqlalchemy import text

    out = []
    for name in dict.fromkeys(tables):
        row = conn.execute(text(
            "SELECT n.nspname, c.relname, has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:name)"),
            {"name": name}).first()
        if row is not None:
            out.append((_quoted_table(conn.dialect, row[0], row[1]), bool(row[2])))
    return out


def writable_tables(conn, tables: Sequence[str]) -> list[str]:
    """PostgreSQL: those of `tables` (SQL names) the connection's role may INSERT, UPDATE, DELETE or
    TRUNCATE, each as schema.table."""
    return [name for name, writable in _privileges(conn, tables) if writable]


def _table_names(source: TableSource, dialect) -> list[str]:
    """The tables the source reads, as PostgreSQL names them (its table, or those sqlglot finds in the query)."""
    from sqlglot import exp

    if source.table:
        tables = [table_expression(source.table, dialect, source.what.lower())]
    else:
        tables = _tables_read(check_query(source.query, dialect.name, source.what.lower()))
    return [exp.Table(this=t.this.copy(), db=t.args["db"].copy() if t.args.get("db") else None).sql("postgres")
            for t in tables]


class _reading:
    """A read-only connection: `with _reading(source) as reading:` (reading.conn; reading.warnings,
    one line each, for a role that could write). PostgreSQL: one transaction, SET TRANSACTION READ
    ONLY first, psycopg 3 on the extended protocol (prepare_threshold 0) for its length; a refused
    connection or query is an InputError that names the database (without its password) and the
    server's reason."""

    def __init__(self, source: TableSource):
        self.source, self.conn, self.warnings, self._threshold = source, None, [], None

    def __enter__(self):
        from sqlalchemy.exc import SQLAlchemyError

        engine = _engine(self.source)
        shown = engine.url.render_as_string(hide_password=True)
        try:
            self.conn = engine.connect()
        except SQLAlchemyError as exc:
            raise InputError(f"Cannot connect to {shown}: {reason(exc)}. Check the URL, that the server runs, and "
                             f"the password (${SQL_PASSWORD_ENV} or the driver's own, e.g. $PGPASSWORD).") from None
        try:
            self._begin(engine.dialect.name)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _begin(self, dialect: str) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            if dialect == "postgresql":
                raw = self.conn.connection.dbapi_connection
                if hasattr(raw, "prepare_threshold"):  # psycopg 3: every statement prepared, none simple
                    self._threshold = raw.prepare_threshold
                    raw.prepare_threshold = 0
                # This read's transaction (SQLAlchemy begins it) is read-only from its first statement;
                # no setting a statement could change (default_transaction_read_only, the session's
                # characteristics) reaches a transaction already begun.
                _run(self.conn, "SET TRANSACTION READ ONLY")
                if _run(self.conn, "SHOW transaction_read_only").scalar() != "on":
                    raise RuntimeError("PostgreSQL did not make the read's transaction read-only")
                tables = _table_names(self.source, self.conn.dialect)
                role = refuse_superuser(self.conn, tables)
                writable = writable_tables(self.conn, tables)
                if writable:
                    names = ", ".join(writable)
                    self.warnings.append(
                        f"the role {role} can write to {names}, which it reads; read with a role that can only "
                        f"read: GRANT SELECT ON {names} TO {READER_ROLE} (deploy/postgres/roles.sql makes it).")
            elif dialect in _READ_ONLY:
                # The session, not one transaction, is made read-only, then committed: whatever the
                # driver or pool ran first, every transaction from here on can only read.
                self.conn.exec_driver_sql(_READ_ONLY[dialect])
                self.conn.commit()
        except SQLAlchemyError as exc:
            raise InputError(f"The database refused to read {self.source.what.lower()} ({self.source.name}): "
                             f"{reason(exc)}.") from None

    def __exit__(self, kind, exc, tb):
        from sqlalchemy.exc import SQLAlchemyError

        if self.conn is None:
            return False
        try:
            self.conn.rollback()  # nothing to keep: Vitrine never writes here
            if self._threshold is not None:  # the pooled connection as it was given
                self.conn.connection.dbapi_connection.prepare_threshold = self._threshold
            self.conn.close()
        except SQLAlchemyError:
            pass
        dbapi_error = getattr(getattr(self.conn.dialect, "dbapi", None), "Error", ())  # raised by COPY
        if isinstance(exc, SQLAlchemyError) or (dbapi_error and isinstance(exc, dbapi_error)):
            raise InputError(f"The database refused to read {self.source.what.lower()} ({self.source.name}): "
                             f"{reason(exc)}.") from None
        return False


def _select(conn, source: TableSource, columns: Sequence[str] | None):
    """The rows, streamed (a server-side cursor where the driver has one)."""
    if columns is not None:
        _require(_keys(conn, source), columns, source)
    return _run(conn, _statement(source, conn.dialect, columns), stream=True)


def _keys(conn, source: TableSource) -> list[str]:
    """The result's column names: the statement is opened on a server-side cursor and closed unread."""
    result = _run(conn, _statement(source, conn.dialect, None), stream=True)
    try:
        return [str(c) for c in result.keys()]
    finally:
        result.close()


def _count(conn, source: TableSource) -> int | None:
    """The rows to come, for the progress bar (None if the database cannot say; a savepoint keeps a
    failed count from spoiling the read's transaction)."""
    from sqlalchemy.exc import SQLAlchemyError

    statement = _statement(source, conn.dialect, None, count=True)
    try:
        if conn.dialect.name != "postgresql":
            return int(_run(conn, statement).scalar())
        with conn.begin_nested():
            return int(_run(conn, statement).scalar())
    except SQLAlchemyError:
        return None


def readable_tables(engine_or_url, schemas: Sequence[str] | None = None) -> list[str]:
    """The tables (and views) the connection's role may SELECT, for a table picker: PostgreSQL, those
    of `schemas` (default: the role's search_path) by has_table_privilege, never the catalog's, named
    as --orders-table takes them (unqualified in the role's first schema); SQLite, sqlite_master's;
    others, SQLAlchemy's inspector. Sorted."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = engine_for(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    shown = engine.url.render_as_string(hide_password=True)
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            if dialect == "postgresql":
                wanted = list(schemas) if schemas else None
                rows = conn.execute(text(
                    "SELECT table_schema, table_name, table_schema = current_schema() "
                    "FROM information_schema.tables WHERE table_schema = ANY(COALESCE(CAST(:schemas AS text[]), "
                    "current_schemas(false))) AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND table_schema NOT LIKE 'pg\\_%' "
                    "AND has_table_privilege(format('%I.%I', table_schema, table_name), 'SELECT') "
                    "ORDER BY 1, 2"), {"schemas": wanted}).all()
                found = [name if first else f"{schema}.{name}" for schema, name, first in rows]
            elif dialect == "sqlite":
                rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all()
                found = [r[0] for r in rows]
            else:
                inspector = inspect(conn)
                found = []
                for schema in (schemas or [None]):
                    names = inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
                    found += [f"{schema}.{n}" if schema else n for n in names]
            conn.rollback()
    except SQLAlchemyError as exc:
        raise InputError(f"Cannot list the tables of {shown}: {reason(exc)}.") from None
    return sorted(found, key=str.lower) if dialect not in ("postgresql",) else found
