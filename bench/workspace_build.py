"""A shop's workspace, built as an analyst builds it: time and memory.

    python bench/workspace_build.py [--part app|postgres|both] [--orders FILE] [--lines N] [--repeat R]

app: the full UCI Online Retail file (541,909 order lines, ../shared/datasets) uploaded on the app's
     Your data page in headless Chromium and built there (clicked until "is ready"), beside
     `python -m recommend build` on the same file and, as the baseline, the three sub-commands
     (rules, similar-products, similar-customers) that built the same parts one by one before.
postgres: N (default 5,000,000) synthetic order lines (N/5 orders, 100,000 customers, 50,000
     products) generated inside a PostgreSQL server started for the run; read as the read-only role
     vitrine_reader by the workspace's reader (the statement parsed and re-rendered by sqlglot, a
     READ ONLY transaction, COPY through psycopg 3, and through psycopg2) against, as the baseline,
     the reader before issue #31 (the table's statement pasted into COPY, psycopg2's copy_expert),
     best of --repeat runs each, interleaved, with the ratio; and by one unchunked
     pandas.read_sql_table; peak memory of each read, and of the whole `python -m recommend build
     --orders-sql` beside it.

Each measurement runs in its own process, so its peak resident memory is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.app_server import CHROMIUM_ARGS, ROOT, app_server  # noqa: E402
from bench.harness import DATASETS, describe  # noqa: E402

SHARED = DATASETS / "online_retail" / "online_retail.csv.gz"


def _measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(seconds, peak resident MB, stdout) of one child process (its peak from wait4's rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024, out


def _recommend(*args: str) -> list[str]:
    return [sys.executable, "-m", "recommend", *args]


def bench_app(orders: Path) -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench_ws_"))
    separate = [
        _recommend("rules", "--orders", str(orders), "--min-support", "0.02", "--out", str(work / "r")),
        _recommend("similar-products", "--orders", str(orders), "--out", str(work / "p")),
        _recommend("similar-customers", "--orders", str(orders), "--no-clean", "--out", str(work / "c")),
    ]
    base = [_measured(c) for c in separate]
    base_s = sum(s for s, _, _ in base)
    cli_s, cli_mb, _ = _measured(_recommend("build", "--orders", str(orders), "--name", "cli",
                                            "--artifacts", str(work / "a")))
    with app_server("bench_ws_app_") as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("VITRINE_CHROMIUM", "/usr/bin/chromium"),
                                    args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.base + "/your-data", wait_until="domcontentloaded")
        page.get_by_text("Orders file").first.wait_for(timeout=120_000)
        started = time.perf_counter()
        page.locator("input[type=file]").first.set_input_files(str(orders), timeout=300_000)
        page.get_by_text("Which column holds what").wait_for(timeout=300_000)
        read_s = time.perf_counter() - started
        name = page.get_by_role("textbox", name="Workspace name").input_value()
        started = time.perf_counter()
        page.get_by_role("button", name="Build the workspace").click()
        page.get_by_text(f"Workspace {name} is ready").wait_for(timeout=300_000)
        build_s = time.perf_counter() - started
        said = page.get_by_text(re.compile(r"Built workspace .* in [0-9.]+ s")).first.inner_text()
        peak = app.memory_mb("VmHWM")
        browser.close()
    print(f"Online Retail ({orders.name}): app upload and read {read_s:.1f} s, build clicked to ready "
          f"{build_s:.1f} s ({said.strip()}); whole in app {read_s + build_s:.1f} s; app server peak {peak:.0f} MB")
    print(f"  python -m recommend build: {cli_s:.1f} s, peak {cli_mb:.0f} MB; baseline, the three sub-commands one "
          f"by one: {base_s:.1f} s ({', '.join(f'{s:.1f}' for s, _, _ in base)}), peak "
          f"{max(m for _, m, _ in base):.0f} MB; ratio build / baseline {cli_s / base_s:.2f}x")


_READ = """
import json, resource, sys, time
from recommend.core.sources import TableSource
t = time.perf_counter()
rows = TableSource(url=sys.argv[1], table="order_lines").read(["order_id", "customer_id", "product_id", "quantity",
                                                               "ordered_at"], progress=False)
print(json.dumps({"rows": len(rows), "seconds": time.perf_counter() - t}))
"""
_PASTED = """
import json, sys, tempfile, time
import pandas as pd, sqlalchemy as sa
from recommend.core.sources import engine_for
t = time.perf_counter()
engine = engine_for(sys.argv[1])  # the reader before issue #31: the statement pasted, psycopg2's copy_expert
with engine.connect() as conn, tempfile.TemporaryFile() as spool:
    conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    conn.commit()
    sql = 'SELECT order_id, customer_id, product_id, quantity, ordered_at FROM order_lines'
    with conn.connection.dbapi_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')", spool)
    spool.seek(0)
    rows = pd.read_csv(spool, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
print(json.dumps({"rows": len(rows), "seconds": time.perf_counter() - t}))
"""
_NAIVE = """
import json, sys, time
import pandas as pd, sqlalchemy as sa
t = time.perf_counter()
rows = pd.read_sql_table("order_lines", sa.create_engine(sys.argv[1]))
print(json.dumps({"rows": len(rows), "seconds": time.perf_counter() - t}))
"""


def bench_postgres(lines: int, repeat: int = 3) -> None:
    import sqlalchemy as sa

    from recommend.core.sources import SQL_PASSWORD_ENV
    from tests import postgres as pg

    server, stop = pg.start()
    try:
        started = time.perf_counter()
        engine = sa.create_engine(server.url(pg.SUPERUSER, with_password=True))
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE order_lines AS SELECT 'O' || (i / 5) AS order_id, 'C' || ((i / 5) %% 100000) AS customer_id,"
                " 'P' || ((i * 7919) %% 50000) AS product_id, 1 + i %% 4 AS quantity,"
                " timestamp '2024-01-01' + (i / 5) * interval '1 minute' AS ordered_at"
                f" FROM generate_series(0::bigint, {lines - 1}) AS i")
        engine.dispose()
        print(f"PostgreSQL {lines:,} order lines generated in {time.perf_counter() - started:.0f} s")
        env = {SQL_PASSWORD_ENV: pg.PASSWORD}
        url, url2 = server.url(), server.url(driver="psycopg2")  # the read-only role; psycopg 3, psycopg2
        runs: dict[str, list[tuple[float, float]]] = {"before": [], "psycopg": [], "psycopg2": []}
        for _ in range(repeat):  # interleaved, so a busy moment of the machine falls on each alike
            for name, script, target in (("before", _PASTED, url2), ("psycopg", _READ, url), ("psycopg2", _READ, url2)):
                seconds, mb, out = _measured([sys.executable, "-c", script, target], env)
                assert json.loads(out)["rows"] == lines
                runs[name].append((seconds, mb))
        best = {name: min(r) for name, r in runs.items()}
        (before_s, before_mb), (new_s, new_mb), (new2_s, new2_mb) = best["before"], best["psycopg"], best["psycopg2"]
        print(f"  read by COPY to a spool file, best of {repeat}: the workspace reader (parsed, re-rendered, read-only "
              f"transaction) through psycopg 3 {new_s:.2f} s, peak {new_mb:.0f} MB; through psycopg2 {new2_s:.2f} s, "
              f"peak {new2_mb:.0f} MB; baseline, the reader before issue #31 (pasted statement, psycopg2) "
              f"{before_s:.2f} s, peak {before_mb:.0f} MB; time ratio psycopg 3 / before {new_s / before_s:.2f}x, "
              f"psycopg2 / before {new2_s / before_s:.2f}x")
        naive_s, naive_mb, _ = _measured([sys.executable, "-c", _NAIVE, server.url(with_password=True)])
        print(f"  pandas.read_sql_table unchunked: {naive_s:.1f} s, peak {naive_mb:.0f} MB; memory ratio workspace "
              f"reader / it {new_mb / naive_mb:.2f}x")
        work = Path(tempfile.mkdtemp(prefix="bench_ws_pg_"))
        build_s, build_mb, out = _measured(_recommend(
            "build", "--orders-sql", url, "--orders-table", "order_lines", "--name", "big", "--artifacts", str(work),
            "--min-support", "0.001"), env)
        print(f"  whole python -m recommend build --orders-sql: {build_s:.1f} s, peak {build_mb:.0f} MB")
        print("  " + out.strip().splitlines()[-1])
    finally:
        stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("app", "postgres", "both"), default="both")
    p.add_argument("--orders", type=Path, default=SHARED, help="the orders file for the app part")
    p.add_argument("--lines", type=int, default=5_000_000, help="order lines for the PostgreSQL part")
    p.add_argument("--repeat", type=int, default=3, help="runs of each PostgreSQL reader (the best counts)")
    args = p.parse_args()
    print(describe())
    if args.part in ("app", "both"):
        bench_app(args.orders)
    if args.part in ("postgres", "both"):
        bench_postgres(args.lines, args.repeat)


if __name__ == "__main__":
    main()
