"""No secret is ever written: a password in a database URL (its user part or `?password=`) or a token
in an export URL reaches no file under the artifacts folder (manifests included), no output, no
error message and no log line, whether the build succeeds, fails or exports (issue #31)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.errors import ArtifactError, InputError
from recommend import cli
from recommend.core.sources import SQL_PASSWORD_ENV
from tests.recommend.workspace.test_build import SHOP

TOKEN = "tok-SECRET-7f3a9c"  # what an export URL carries


def _redact_module():
    """common/redact.py, or a failing assertion (not an ImportError) where it does not exist yet."""
    try:
        from common import redact
    except ImportError:
        pytest.fail("common/redact.py (redact, redact_url, redact_command, RedactingFilter) does not exist")
    return redact


def _everything_written(root: Path) -> dict[str, bytes]:
    """Every file under `root` (links followed once), by path, with its bytes; its name counts too."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found[str(path)] = path.read_bytes()
    return found


def _assert_nowhere(secret: str, root: Path, texts: dict[str, str]) -> None:
    files = _everything_written(root)
    assert files, f"nothing was written under {root}"
    named = [p for p in files if secret in p]
    held = [p for p, data in files.items() if secret.encode() in data]
    shown = [where for where, text in texts.items() if secret in text]
    assert not (named or held or shown), (f"the secret is in file names {named}, in files {held}, "
                                          f"in {shown}")


ORDERS_TABLE = "secret_test_orders"


@pytest.fixture
def orders_in_postgres(postgres):
    """The demo orders in a table of the PostgreSQL fixture, loaded as its bootstrap superuser and
    readable by the role the tests connect as (tests/postgres.py's reader, where it has one)."""
    import sqlalchemy as sa

    from tests import postgres as pg

    reader = getattr(pg, "READER", None)
    admin = postgres.url(pg.SUPERUSER, with_password=True) if reader else postgres.url(with_password=True)
    engine = sa.create_engine(admin)
    pg.typed_sample().to_sql(ORDERS_TABLE, engine, index=False, if_exists="replace", chunksize=5000)
    if reader:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"GRANT SELECT ON {ORDERS_TABLE} TO {reader}")
    engine.dispose()
    return ORDERS_TABLE


def test_a_build_from_postgresql_fails_builds_and_exports_without_writing_its_password(
        postgres, orders_in_postgres, tmp_path, capsys, caplog, monkeypatch):
    from tests import postgres as pg

    secret = pg.PASSWORD
    monkeypatch.delenv(SQL_PASSWORD_ENV, raising=False)  # the password is only in the URLs below
    monkeypatch.delenv("PGPASSWORD", raising=False)
    caplog.set_level(logging.DEBUG)
    in_user_part = postgres.url(with_password=True)
    assert f":{secret}@" in in_user_part
    in_query = f"{postgres.url()}?sslmode=disable&password={secret}"
    artifacts = tmp_path / "artifacts"
    texts: dict[str, str] = {}

    runs = {
        "user part": ["build", "--orders-sql", in_user_part, "--orders-table", orders_in_postgres],
        "query": ["build", "--orders-sql", in_query, "--orders-query", f"SELECT * FROM {orders_in_postgres}"],
    }
    for label, args in runs.items():
        assert cli.main([*args, "--name", label.replace(" ", "_"), "--artifacts", str(artifacts)]) == 0, label
        out = capsys.readouterr()
        texts[f"stdout of the build ({label})"], texts[f"stderr of the build ({label})"] = out.out, out.err

    failing = {
        "a table that is not there": ["--orders-sql", in_user_part, "--orders-table", "no_such_table"],
        "a table that is not there (query)": ["--orders-sql", in_query, "--orders-table", "no_such_table"],
        "a server that does not answer": ["--orders-sql", in_user_part.replace(f":{postgres.port}/", ":1/"),
                                          "--orders-table", orders_in_postgres],
        "a URL SQLAlchemy cannot parse": ["--orders-sql", f"shop:{secret}@db", "--orders-table", orders_in_postgres],
    }
    for label, args in failing.items():
        assert cli.main(["build", *args, "--name", "failed", "--artifacts", str(artifacts)]) == 2, label
        out = capsys.readouterr()
        assert out.err.strip(), label
        texts[f"stdout ({label})"], texts[f"stderr ({label})"] = out.out, out.err

    for label, url in {"user part": in_user_part, "query": in_query}.items():  # export: ends well or not
        rc = cli.main(["export", "--name", "user_part", "--artifacts", str(artifacts), "--export-sql", url,
                       "--table-prefix", "secret_test_"])
        out = capsys.readouterr()
        assert rc in (0, 2), label
        texts[f"stdout of the export ({label})"], texts[f"stderr of the export ({label})"] = out.out, out.err

    # the errors themselves, as a page or the API would show them
    from recommend.core.order_columns import source

    class Args:
        orders_sql, orders_query, orders_table = in_query, None, "no_such_table"

    with pytest.raises(InputError) as refused:
        source(Args, None).columns()
    texts["the InputError's message"] = str(refused.value)
    texts["the log"] = caplog.text

    _assert_nowhere(secret, artifacts, texts)
    from recommend.workspace import model

    for name in ("user_part", "query"):
        rebuild = model.open_workspace(name, artifacts).manifest["rebuild"]
        assert f"127.0.0.1:{postgres.port}/" in rebuild, rebuild  # still says which database, without the password


def test_a_build_with_a_bad_database_url_and_an_export_with_a_token_write_neither(tmp_path, capsys):
    artifacts, orders = tmp_path / "artifacts", tmp_path / "shop.csv"
    SHOP.to_csv(orders, index=False)
    texts = {}
    assert cli.main(["build", "--orders", str(orders), "--name", "shop", "--artifacts", str(artifacts)]) == 0
    texts["build"] = capsys.readouterr().err
    bad = ["build", "--orders-sql", f"mysql+nodriver://shop:{TOKEN}@db/x?password={TOKEN}", "--orders-table", "t",
           "--name", "bad", "--artifacts", str(artifacts)]
    assert cli.main(bad) == 2
    texts["a build with a driver that is not installed"] = capsys.readouterr().err
    assert cli.main([*bad[:2], f"not a url:{TOKEN}@db", *bad[3:]]) == 2
    texts["a build with a URL that cannot be parsed"] = capsys.readouterr().err

    exports = tmp_path / "exports"
    for url in (f"file://{exports}/lists?token={TOKEN}", f"file://{exports}/signed?X-Amz-Signature={TOKEN}&a=1"):
        rc = cli.main(["export", "--name", "shop", "--artifacts", str(artifacts), "--export-url", url])
        out = capsys.readouterr()
        texts[f"export to {url} (rc {rc})"] = out.out + out.err
    _assert_nowhere(TOKEN, tmp_path, texts)


def test_every_manifest_and_error_message_is_redacted_wherever_it_comes_from(tmp_path):
    from common.artifacts import read_manifest, write_artifact

    secret = "pw-SECRET-42"
    with write_artifact(tmp_path / "part", "test_part", 1,
                        {"source": {"sql": f"postgresql://shop:{secret}@db:5432/shop?sslpassword={secret}"},
                         "storage": {"token": secret, "url": f"s3://bucket/x?key=AK&secret={secret}"}},
                        rebuild=f"python -m recommend build --orders-sql postgresql://shop:{secret}@db/shop") as draft:
        (draft.path / "rows.csv").write_text("a\n1\n")
    written = (tmp_path / "part" / "manifest.json").read_text()
    assert secret not in written, written
    manifest = read_manifest(tmp_path / "part")
    assert manifest["source"]["sql"].startswith("postgresql://shop:") and "@db:5432/shop" in manifest["source"]["sql"]

    for error in (InputError, ArtifactError):
        message = str(error(f"Cannot connect to postgresql://shop:{secret}@db/shop?password={secret}: refused."))
        assert secret not in message, message
        assert "postgresql://shop:" in message and "@db/shop" in message, message


@pytest.mark.parametrize("text, kept", [
    ("postgresql://shop:{s}@db:5432/sales", "postgresql://shop:***@db:5432/sales"),
    ("postgresql+psycopg2://shop:p%40ss/{s}@db/sales?sslmode=require", "postgresql+psycopg2://shop:***@db/sales?sslmode=require"),
    ("postgresql://shop@db/sales?password={s}&sslpassword={s}&sslkey=/k/{s}.key&application_name=v",
     "postgresql://shop@db/sales?password=***&sslpassword=***&sslkey=***&application_name=v"),
    ("s3://bucket/lists?key=AKIA{s}&secret={s}&token={s}", "s3://bucket/lists?key=***&secret=***&token=***"),
    ("https://b.s3.amazonaws.com/x.csv?X-Amz-Credential={s}%2F2024&X-Amz-Signature={s}&X-Amz-Security-Token={s}&v=1",
     "https://b.s3.amazonaws.com/x.csv?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&v=1"),
    ("abfs://c/p?sig={s}&sv=2022", "abfs://c/p?sig=***&sv=2022"),
    ("DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={s};", "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=***;"),
    ("host=db dbname=sales password={s} user=shop", "host=db dbname=sales password=*** user=shop"),
    ("Authorization: Bearer {s}", "Authorization: Bearer ***"),
    ("postgresql://shop:p#{s}@db/sales", "postgresql://shop:***@db/sales"),  # unencoded "#", "?" and "@":
    ("failed: postgresql://shop:{s}?x@db:5432/sales?sslmode=require.", "failed: postgresql://shop:***@db:5432/sales?sslmode=require."),
    ("postgresql://shop:a@{s}@db/sales", "postgresql://shop:***@db/sales"),  # SQLAlchemy reads them all
    ("https://shop.example/p?email=ann@example.com", "https://shop.example/p?email=ann@example.com"),
    ("sqlite:///shop.db and file:///srv/lists and --catalogue-map id=SKU", "sqlite:///shop.db and file:///srv/lists and --catalogue-map id=SKU"),
])
def test_redact_removes_passwords_tokens_and_keys_and_keeps_the_rest(text, kept):
    redact = _redact_module()
    secret = "S3cr3t-x9"
    assert redact.redact(text.format(s=secret)) == kept
    assert redact.redact_url(text.format(s=secret)) == kept


def test_redact_command_masks_secret_flags_and_urls():
    redact = _redact_module()
    argv = ["python", "-m", "recommend", "build", "--orders-sql", "postgresql://u:hunter22@db/s?password=hunter22",
            "--sql-password", "hunter22", "--api-token=hunter22", "--name", "shop", "--min-lift", "-2"]
    out = redact.redact_command(argv)
    assert "hunter22" not in " ".join(out)
    assert out[:5] == argv[:5] and out[-4:] == argv[-4:] and "postgresql://u:***@db/s?password=***" in out


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks():
    redact = _redact_module()
    logger = logging.getLogger("vitrine.test.secrets")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(redact.RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s", "postgresql://u:hunter22@db/s")
        try:
            raise RuntimeError("refused: postgresql://u@db/s?password=hunter22")
        except RuntimeError:
            logger.exception("build failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 2 and "postgresql://u:***@db/s" in records[0] and "RuntimeError" in records[1]
    assert not any("hunter22" in r for r in records), records


_LOGS_OF_THE_API = """
import logging, sys
from api.app import create_app
from api.keys import Keys
from api.store import Store
create_app(Store(sys.argv[1]), Keys([]))
for name in ("vitrine.api", "uvicorn.error", "vitrine.some.module"):
    try:
        raise RuntimeError("could not reach postgresql://u:hunter22@db/s?sslpassword=hunter22")
    except RuntimeError:
        logging.getLogger(name).exception("loading failed")
"""


def test_the_api_process_writes_no_secret_in_its_log_lines_or_tracebacks(tmp_path):
    """The log lines of a running API (its own, uvicorn's, any module's), tracebacks included."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-c", _LOGS_OF_THE_API, str(tmp_path)], cwd=ROOT, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("loading failed") == 3 and done.stderr.count("RuntimeError") >= 3, done.stderr
    assert "hunter22" not in done.stderr + done.stdout
    assert "postgresql://u:***@db/s" in done.stderr
