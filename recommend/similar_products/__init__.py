"""Similar products: item-item co-occurrence (products bought in the same orders), top k per
product, checked by the same-category share and a time-split evaluation.

    columns = OrderColumns(order="Order ID", item="Product ID", name="Product Name")  # common.shop_tables
    lines = read_order_lines(path, columns)
    result = build(lines, columns, similarity="jaccard", k=5)
    write(result, folder); result = load(folder)
    answer(result, "FUR-BO-10001798")            # one product's similar products
"""
from recommend.similar_products.model import (
    FORMAT_VERSION, KIND, SimilarProducts, answer, build, find_products, load,
    read_order_lines, write,
)

__all__ = ["FORMAT_VERSION", "KIND", "SimilarProducts", "answer", "build",
           "find_products", "load", "read_order_lines", "write"]
