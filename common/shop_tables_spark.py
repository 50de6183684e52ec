"""common/shop_tables.py's `apply` in Spark: a shop's table, read by Spark (common.spark.read_table),
with one column per mapped field, checked the same way and typed the same way, so that a
workspace built on Spark holds the same order lines as one built locally.

Text is read as the local reader reads it (every column as text, missing as ""; whole-number
float columns of a Parquet file as integers) and stripped as Python strips it. Numbers and dates
are parsed by the local code itself (shop_tables.parse_numbers / parse_dates) in pandas UDFs,
batch by batch: both go value by value, except the choice of Unix seconds for a date column,
which is made over the whole column first, as the local code makes it. A problem is the local
engine's one-line message, with an example value (Spark's rows have no row numbers).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from common.errors import InputError
from common.shop_tables import (BLANKS, Schema, all_blank, mapping_problems, no_rows, parse_dates, parse_numbers,
                                unparsed)
from common.spark import SparkTable, stripped
from common.spark import column as spark_column


def _as_text(table: SparkTable, columns: list[str]):
    """The columns as the local reader's text: "" for missing, whole-number floats as integers
    (shop_tables.as_text); a CSV is text already."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    frame = table.frame.select(*[spark_column(c) for c in columns])
    floats = [f.name for f in frame.schema.fields if isinstance(f.dataType, (DoubleType, FloatType))]
    whole = {}
    if floats:
        row = frame.agg(*[F.sum(F.when(spark_column(c).isNotNull() & (spark_column(c) != F.round(spark_column(c))), 1)
                                .otherwise(0)).alias(str(i)) for i, c in enumerate(floats)]).first()
        whole = {c: not row[str(i)] for i, c in enumerate(floats)}
    out = []
    for c in columns:
        value = spark_column(c)
        if c in floats:  # NaN is missing, as pandas reads it
            value = F.when(~F.isnan(value), value)
        value = value.cast("long") if whole.get(c) else value
        out.append(F.coalesce(value.cast("string"), F.lit("")).alias(c))
    return frame.select(*out)


def _numbers_udf():
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def numbers(text: pd.Series) -> pd.Series:
        return parse_numbers(text).astype("float64")

    return numbers


def _dates_udf(unix: bool):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("timestamp_ntz")
    def dates(text: pd.Series) -> pd.Series:
        return pd.Series(parse_dates(text, unix), index=text.index).astype("datetime64[ns]")

    return dates


def apply(table: SparkTable, schema: Schema, mapping: Mapping[str, str | None], name: str = "the file"):
    """(mapped, cached): a Spark DataFrame with one column per mapped field, named by its role (ids
    and text as stripped strings, numbers as doubles (as integers when every cell is a whole
    number, as pandas.to_numeric makes them), dates as timestamps without a time zone,
    blanks of numbers and dates null), and the cached frame it reads (unpersist it when done);
    InputError with the first problem (all of them in `.problems`) when shop_tables.problems
    would find any."""
    from pyspark.sql import functions as F

    found = mapping_problems(table.columns(), schema, mapping, name)
    if found:
        raise _error(found)
    fields = [f for f in schema.fields if mapping.get(f.role)]
    parsed = [f for f in fields if f.kind in ("number", "date")]
    text = _as_text(table, [mapping[f.role] for f in fields])
    cells = text.select(*[stripped(spark_column(mapping[f.role])).alias(f.role) for f in fields])
    numeric = _numbers_udf()
    counts = cells.agg(F.count("*").alias("rows"),
                       *[F.sum(F.when(~_blank(f.role), 1).otherwise(0)).alias(f"filled_{f.role}") for f in fields],
                       *[F.sum(F.when(~_blank(f.role) & numeric(F.col(f.role)).isNull(), 1).otherwise(0))
                         .alias(f"not_numeric_{f.role}") for f in parsed if f.kind == "date"],
                       *[F.sum(F.when(_blank(f.role) | ~F.col(f.role).rlike(r"^[+-]?[0-9]{1,18}$"), 1).otherwise(0))
                         .alias(f"not_integer_{f.role}") for f in parsed if f.kind == "number"]).first()
    rows = int(counts["rows"])
    if not rows:
        raise _error([no_rows(name, schema)])
    typed = {}
    for f in parsed:
        if f.kind == "number":
            value = numeric(F.col(f.role))
            if not counts[f"not_integer_{f.role}"]:  # whole numbers, none missing: integers, as pandas reads them
                value = value.cast("long")
        else:
            value = _dates_udf(bool(counts[f"filled_{f.role}"]) and not counts[f"not_numeric_{f.role}"])(F.col(f.role))
        typed[f.role] = F.when(~_blank(f.role), value)
    frame = cells.select(*[typed.get(f.role, F.col(f.role)).alias(f.role) for f in fields],
                         *[F.col(f.role).alias(f"text_{f.role}") for f in parsed]).cache()
    try:
        checks = {}
        if parsed:
            bad = {f.role: ~_blank(f"text_{f.role}") & F.col(f.role).isNull() for f in parsed}
            checks = frame.agg(*[F.sum(F.when(bad[f.role], 1).otherwise(0)).alias(f"bad_{f.role}") for f in parsed],
                               *[F.first(F.when(bad[f.role], F.col(f"text_{f.role}")), ignorenulls=True)
                                 .alias(f"example_{f.role}") for f in parsed]).first().asDict()
        found = []  # in the schema's field order, as the local check lists them
        for f in fields:
            if f.kind == "id" and not counts[f"filled_{f.role}"]:
                found.append(all_blank(mapping[f.role], f, rows))
            elif checks.get(f"bad_{f.role}"):
                found.append(unparsed(mapping[f.role], f, int(checks[f"bad_{f.role}"]), checks[f"example_{f.role}"]))
        if found:
            raise _error(found)
    except BaseException:
        frame.unpersist()
        raise
    return frame.drop(*[f"text_{f.role}" for f in parsed]), frame


def _blank(column: str):
    """A stripped cell that holds no value: empty, or nan/none/null in any case (shop_tables.BLANKS)."""
    from pyspark.sql import functions as F

    return (F.col(column) == "") | F.lower(F.col(column)).isin(*BLANKS)


def _error(found: list[str]) -> InputError:
    error = InputError(found[0])
    error.problems = found
    return error
