"""Shared by every tabular recommender: interaction matrices with id maps, the sparse top-k kernel, offline metrics."""
