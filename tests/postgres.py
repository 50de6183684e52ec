"""A real PostgreSQL server for the tests: Debian's binaries, a fresh cluster in a temporary folder,
password authentication, a free port on 127.0.0.1; stopped and removed at the end.

Its roles are those a shop is told to make: the bootstrap superuser `postgres` (which loads the
test data and nothing else), and deploy/postgres/roles.sql's `vitrine_reader` (SELECT on the shop's
tables) and `vitrine_export` (its own schema for the exported lists), which the tests connect as.

`initdb` refuses to run as root (CI runs as root), so there the cluster belongs to the
`postgres` user Debian's package creates, and the server runs as that user.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port

import pandas as pd

import settings

SAMPLE = settings.DATA_DIR / "online_retail" / "online_retail_sample.csv.gz"
ROLES_SQL = settings.ROOT / "deploy" / "postgres" / "roles.sql"
SUPERUSER, READER, EXPORTER = "postgres", "vitrine_reader", "vitrine_export"
PASSWORD, DATABASE = "s3cret-test-password", "shop"  # one test password for every role
USER = SUPERUSER  # the bootstrap role's name, as before


def bindir() -> Path:
    """Where initdb and pg_ctl are: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    if shutil.which("pg_config"):
        found = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
        if (found / "initdb").exists():
            return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does).")
    return Path(versions[-1])


@dataclass
class Server:
    port: int
    data: Path

    def url(self, role: str = READER, *, with_password: bool = False, driver: str | None = None) -> str:
        """The shop database's URL for `role` (the reader unless told); `driver` "psycopg2" gives a
        postgresql+psycopg2:// URL, else the plain postgresql:// of the README (psycopg 3)."""
        secret = f":{PASSWORD}" if with_password else ""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{role}{secret}@127.0.0.1:{self.port}/{DATABASE}"

    def psql(self, sql: str, role: str = SUPERUSER) -> str:
        """Run SQL with psql as `role` (the superuser unless told), for what a test checks as the admin."""
        done = subprocess.run([str(bindir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", role, "-d", DATABASE, "-c", sql],
                              env={**os.environ, "PGPASSWORD": PASSWORD}, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()


def create_roles(server: Server, **variables: str) -> subprocess.CompletedProcess:
    """Run deploy/postgres/roles.sql as the superuser, the passwords given as compose.yaml gives them
    (VITRINE_READER_PASSWORD, VITRINE_EXPORT_PASSWORD in the environment); `variables` are psql -v ones."""
    env = {**os.environ, "PGPASSWORD": PASSWORD, "VITRINE_READER_PASSWORD": PASSWORD,
           "VITRINE_EXPORT_PASSWORD": PASSWORD}
    flags = [f"--variable={name}={value}" for name, value in variables.items()]
    return subprocess.run([str(bindir() / "psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port), "-U", SUPERUSER,
                           "-d", DATABASE, *flags, "-f", str(ROLES_SQL)], env=env, capture_output=True, text=True)


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


def start() -> tuple[Server, callable]:
    """Start a server; returns it and the function that stops it. Its folder is made right under
    the system's temporary folder (pytest's own is closed to other users, the server's included)."""
    bin_ = bindir()
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="vitrine-pg-"))
    data, socket_dir, pwfile = root / "data", root / "socket", root / "pwfile"
    socket_dir.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        shutil.chown(root, owner)
        for path in (socket_dir, pwfile):
            shutil.chown(path, owner)
        os.chmod(root, 0o755)
    subprocess.run(_as_owner([str(bin_ / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                              "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C"], owner),
                   check=True, capture_output=True)
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {socket_dir} -c fsync=off"
    subprocess.run(_as_owner([str(bin_ / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                              "-w", "-t", "60", "start"], owner), check=True, capture_output=True)

    def stop():
        subprocess.run(_as_owner([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], owner),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    server = Server(port, data)
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    deadline = time.time() + 30
    while True:
        made = subprocess.run([str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
                              env=env, capture_output=True, text=True)
        if made.returncode == 0:
            roles = create_roles(server)
            if roles.returncode != 0:
                stop()
                raise RuntimeError(f"deploy/postgres/roles.sql failed: {roles.stderr}")
            return server, stop
        if time.time() > deadline:
            stop()
            raise RuntimeError(f"createdb failed: {made.stderr}")
        time.sleep(0.2)


def typed_sample() -> pd.DataFrame:
    """The demo orders as a shop's database holds them: numbers as numbers, dates as timestamps."""
    table = pd.read_csv(SAMPLE, dtype={"InvoiceNo": str, "StockCode": str, "Description": str},
                        keep_default_na=False, na_values={"CustomerID": [""]})
    table["InvoiceDate"] = pd.to_datetime(table["InvoiceDate"])
    return table
