"""recommend/datasets/online_retail.py's cleaning in Spark, for the Spark engines of similar
products and similar customers: the same rules on the same text, so both engines keep the same
lines (tested against the local cleaning on the demo data)."""
from __future__ import annotations

from common.spark import single_spaced, stripped
from recommend.datasets.online_retail import NON_PRODUCT_CODES, NON_PRODUCT_PREFIXES

# What pandas.read_csv reads as missing (its default na_values): the local readers see these
# fields of a CSV as empty, so the Spark readers do too (not in Parquet, whose values are typed).
PANDAS_NA = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


def as_pandas_reads(column, csv: bool):
    """A CSV field as text the way pandas.read_csv gives it (its missing markers as null)."""
    from pyspark.sql import functions as F

    value = column.cast("string")
    return F.when(value.isin(*PANDAS_NA), F.lit(None)).otherwise(value) if csv else value


def number(column):
    """Text as a number the way pandas.to_numeric(errors="coerce") reads it: missing when not one."""
    return column.try_cast("double")


def positive(column):
    """> 0 as pandas compares: NaN is not (Spark orders NaN above every number)."""
    from pyspark.sql import functions as F

    return column.isNotNull() & ~F.isnan(column) & (column > 0)


def customer_id(column):
    """recommend.datasets.online_retail.customer_ids: stripped, "17850.0" is "17850"."""
    from pyspark.sql import functions as F

    return F.regexp_replace(stripped(column), r"\.0$", "")


def product_sales(invoice, item, quantity, price=None, customer=None):
    """True for the lines clean_online_retail keeps (columns as text): an invoice and a stock
    code, not cancelled ("C..."), a positive quantity, a product code (not postage, fees,
    vouchers), a positive price where there is a price column, a customer where one is needed."""
    from pyspark.sql import functions as F

    invoice, item = stripped(invoice), stripped(item)
    code = F.upper(item)
    product = ~code.isin(*NON_PRODUCT_CODES)
    for prefix in NON_PRODUCT_PREFIXES:
        product &= ~code.startswith(prefix)
    keep = (invoice.isNotNull() & item.isNotNull() & (item != "") & ~F.upper(invoice).startswith("C")
            & positive(number(quantity)) & product)
    if price is not None:
        keep &= positive(number(price))
    if customer is not None:
        customer = stripped(customer)
        keep &= customer.isNotNull() & (customer != "")
    return keep


def product_descriptions(lines, item: str, column: str, alias: str = "name"):
    """Per product (`item`), its most frequent text in `column`, stripped and with single spaces
    (ties: alphabetically first): online_retail.product_descriptions in Spark. Columns item, alias."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counted = (lines.select(F.col(item).alias("item"), single_spaced(F.col(column)).alias("text"))
               .where(F.col("text").isNotNull() & (F.col("text") != "")).groupBy("item", "text").count())
    best = Window.partitionBy("item").orderBy(F.col("count").desc(), F.col("text").asc())
    return (counted.withColumn("r", F.row_number().over(best)).where(F.col("r") == 1)
            .select("item", F.col("text").alias(alias)))
