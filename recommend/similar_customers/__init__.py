"""Similar customers: user-user cosine on the customer x product matrix, and what the nearest
customers bought that this one has not, with the reason.

    purchases = read_purchases(path)             # Online Retail-style lines, cleaned
    result = build(purchases, k=30, n=10)        # neighbours, recommendations, manifest
    write(result, folder); result = load(folder)
    answer(result, "13047", 10)                  # what to recommend to one customer, with the reason
    neighbours(result, "13047", 10)              # the customers who buy most like them
    find_customers(ids, "1304")                  # ids matching what a person typed
"""
from recommend.similar_customers.model import (
    FORMAT_VERSION, KIND, SimilarCustomers, answer, build, find_customers, load, neighbours, read_purchases,
    write,
)

__all__ = ["FORMAT_VERSION", "KIND", "SimilarCustomers", "answer", "build", "find_customers",
           "load", "neighbours", "read_purchases", "write"]
