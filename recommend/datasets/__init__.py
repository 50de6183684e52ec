"""Readers and cleaning of the public data sets the recommenders learn from."""
