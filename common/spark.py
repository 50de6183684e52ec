"""Apache Spark for the offline jobs that outgrow one machine: the one way to get a session, to
read a table Spark can reach, and to bring a small result back to the driver.

`--engine spark` (with `--spark-master`, default `local[*]`; under `spark-submit` the master it
was given) is offered by `python -m recommend rules | similar-products | similar-customers` and
`python -m embed build`. PySpark is imported here only when a session is asked for, so the app
and the local engine never load it (requirements-spark.txt; Java 17 from the system).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from common.errors import InputError

ENGINES = ("local", "spark")
DEFAULT_MASTER = "local[*]"
INSTALL = ("pip install -r requirements-spark.txt, and Java 17 (Debian: apt-get install "
           "openjdk-17-jre-headless)")
PARQUET_SUFFIXES = (".parquet", ".pq")
LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")  # errors only, not Spark's start-up chatter
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".txt.gz", ".gz")


ENGINE_HELP = ("local: this process (the default, fastest up to tens of millions of order lines); "
               "spark: Apache Spark, for data that does not fit one machine (same results)")


def add_engine_arguments(p: argparse.ArgumentParser, engine_help: str = ENGINE_HELP) -> None:
    """--engine, --spark-master and --spark-conf, the same in every job that has a Spark engine."""
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINES, default="local", help=engine_help)
    g.add_argument("--spark-master", default=None, metavar="URL",
                   help=f"with --engine spark: local[N], spark://host:7077, yarn, k8s://... (default "
                        f"{DEFAULT_MASTER}, or the master spark-submit was given)")
    g.add_argument("--spark-conf", action="append", default=[], metavar="NAME=VALUE",
                   help="with --engine spark: a Spark setting, e.g. spark.driver.memory=8g (repeatable)")


def check_engine_arguments(args) -> None:
    """Spark flags without --engine spark are a mistake worth one line."""
    if args.engine != "spark" and (args.spark_master or args.spark_conf):
        raise InputError("--spark-master and --spark-conf only apply with --engine spark; add it, or drop them.")


def refuse_database(src) -> None:
    """--engine spark reads files and folders, not a database (its JDBC drivers are the cluster's)."""
    if getattr(src, "is_sql", False):
        raise InputError("--engine spark reads files and folders Spark can reach (CSV, Parquet); for a database "
                         "use --engine local, or export the order lines to Parquet first.")


def _parse_conf(pairs: list[str]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--spark-conf takes NAME=VALUE (e.g. spark.driver.memory=8g), not {pair!r}.")
        conf[key.strip()] = value.strip()
    return conf


def session(master: str | None = None, conf: list[str] | dict[str, str] | None = None, app: str = "vitrine"):
    """A SparkSession (the running one when there is one): quiet logs, no web UI, Arrow transfers.

    InputError when PySpark or Java is missing, naming what to install."""
    conf = _parse_conf(conf) if isinstance(conf, list) else dict(conf or {})
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError(f"--engine spark needs PySpark: {INSTALL}.") from exc
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise InputError(f"--engine spark needs Java 17 and none was found: {INSTALL}, or set JAVA_HOME.")
    # PySpark 4.3 warns that it "does not yet fully support pandas >= 3"; what this project hands
    # it (flat tables of strings and numbers through Arrow) is covered by the tests.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.appName(app)
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started this driver with its master
    master = master or (None if under_submit else DEFAULT_MASTER)
    if master:
        builder = builder.master(master)
    if master and master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Python workers run this interpreter (the one with Vitrine and its libraries), not the
        # first `python3` on the PATH; on a cluster, PYSPARK_PYTHON or spark.pyspark.python says which.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    # Long work shows progress: Spark's own stage bar on a terminal (stderr), nothing in logs or tests.
    defaults = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": str(sys.stderr.isatty()).lower(),
                # FPGrowth recurses down its tree once per item of a long basket (an invoice of 500 lines):
                # the JVM's default 1 MB thread stack overflows on Online Retail; 64 MB does not.
                "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile={LOG_CONFIG.as_uri()} -Xss64m",
                "spark.executor.extraJavaOptions": "-Xss64m",
                "spark.sql.execution.arrow.pyspark.enabled": "true",
                "spark.sql.session.timeZone": "UTC",
                # Spark 4 reads CSV only in UTF-8/16/32, ASCII and Latin-1 unless told Java's charsets are
                # fine: a shop's Excel export in Windows-1252 (Online Retail's own encoding) is read as it is.
                "spark.sql.legacy.javaCharsets": "true"}
    if master and master.startswith("local"):
        # 200 shuffle partitions (Spark's default, sized for clusters) is mostly scheduling on one machine.
        defaults["spark.sql.shuffle.partitions"] = str(max(4, 2 * local_cores(master)))
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def runs_here(master: str | None) -> bool:
    """Whether a job with this master runs on this machine alone: a local[N] master, or none given
    outside spark-submit (then DEFAULT_MASTER)."""
    return master.startswith("local") if master else "PYSPARK_GATEWAY_PORT" not in os.environ


def local_cores(master: str) -> int:
    """The threads of a local[N] / local[*] master."""
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
    if inside.split(",")[0].strip() in ("*", ""):
        return os.cpu_count() or 1
    try:
        return max(1, int(inside.split(",")[0]))
    except ValueError:
        return 1


def is_remote(path: str | Path) -> bool:
    """A URI Spark reads itself (s3a://, hdfs://, gs://, abfss://, file://...), not a local path."""
    return "://" in str(path)


@dataclass
class SparkTable:
    """A table as Spark reads it; `name` and `columns()` are what the column guesser asks of a source."""

    frame: object  # pyspark.sql.DataFrame, every column as text (CSV) or as stored (Parquet)
    name: str
    format: str

    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def describe(self) -> dict:
        return {"path": self.name, "format": self.format, "engine": "spark"}

    def read(self) -> dict:
        """How it was read, for a manifest's "read": the format, and a local CSV's delimiter and
        encoding as sniffed (the local engine records the same)."""
        facts = {"format": self.format, "engine": "spark"}
        if self.format == "csv" and not is_remote(self.name) and Path(self.name).is_file():
            facts.update(local_csv_options(Path(self.name)))
        return facts


def table_format(path: str | Path) -> str:
    """"parquet" or "csv", from the name (a folder of part files: what it holds)."""
    text = str(path).rstrip("/")
    lower = text.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if not is_remote(text) and Path(text).is_dir():
        names = [p.name.lower() for p in Path(text).iterdir() if not p.name.startswith(("_", "."))]
        if any(n.endswith(PARQUET_SUFFIXES) for n in names):
            return "parquet"
        if any(n.endswith(CSV_SUFFIXES) for n in names):
            return "csv"
        raise InputError(f"{text} holds no .parquet or .csv files; give a file or a folder of part files.")
    return "parquet"  # a folder on object storage or a cluster file system: Spark's own output


def read_table(spark, path: str | Path, what: str = "Orders") -> SparkTable:
    """A CSV (header row, values kept as text, delimiter sniffed when the file is local) or Parquet
    file or folder, at any path or URI Spark reads; column names stripped of spaces."""
    text = str(path)
    if not is_remote(text) and not Path(text).exists():
        raise InputError(f"{what} file {text} not found.")
    fmt = table_format(text)
    reader = spark.read
    if fmt == "csv":
        # RFC 4180 quoting (a quote inside a field is doubled), as Excel and pandas write it; Spark defaults to a backslash
        options = {"header": "true", "inferSchema": "false", "mode": "PERMISSIVE", "quote": "\"", "escape": "\""}
        if not is_remote(text) and Path(text).is_file():
            options.update(local_csv_options(Path(text)))
        frame = reader.options(**options).csv(text)
    else:
        frame = reader.parquet(text)
    renamed = [c.strip() for c in frame.columns]
    if renamed != frame.columns:
        frame = frame.toDF(*renamed)
    return SparkTable(frame, text, fmt)


def local_csv_options(path: Path) -> dict[str, str]:
    """Delimiter and encoding of a local CSV, sniffed as the local engine does (common.tables)."""
    from common.tables import DETECT_BYTES, delimiter, read_bytes, text_encoding

    head = read_bytes(path, str(path), "Orders")[:DETECT_BYTES]
    encoding = text_encoding(head, str(path))
    return {"sep": delimiter(head.decode(encoding, errors="ignore")), "encoding": _java_charset(encoding)}


def _java_charset(encoding: str) -> str:
    """Python's codec name as Java knows it."""
    name = encoding.lower().replace("_", "-")
    return {"utf-8-sig": "UTF-8", "cp1252": "windows-1252", "latin-1": "ISO-8859-1", "ascii": "US-ASCII"}.get(name, name)


# Python's whitespace (str.isspace): Unicode White_Space, as Java's (?U)\s, plus the separators U+001C-U+001F.
SPACE = r"[\s\x{1C}-\x{1F}]"


def column(name: str):
    """Spark's column of this name, whatever it holds (spaces, dots, backticks): quoted, so a shop's
    header such as `Order ID` or `a.b` is never read as a nested field."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def stripped(column):
    """A text column with leading and trailing whitespace removed as Python's str.strip() removes
    it (Unicode spaces such as U+00A0 too; Spark's trim() only removes ASCII spaces)."""
    from pyspark.sql import functions as F

    return F.regexp_replace(column, rf"(?U)^{SPACE}+|{SPACE}+$", "")


def single_spaced(column):
    """Stripped, inner runs of whitespace made one space (what the local readers do with a regex)."""
    from pyspark.sql import functions as F

    return stripped(F.regexp_replace(column, rf"(?U){SPACE}+", " "))


def to_pandas(frame):
    """A (small) Spark result as a pandas DataFrame through Arrow, text as Python strings
    (object), as the local engines hold ids."""
    import numpy as np
    import pandas as pd

    table = frame.toArrow()
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if str(column.type) in ("string", "large_string"):
            out[name] = np.asarray(column.to_pylist(), dtype=object)
        else:
            out[name] = column.to_numpy()
    return pd.DataFrame(out)
