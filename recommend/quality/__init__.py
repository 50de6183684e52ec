"""How good is each recommender on a data set: one evaluation for similar products, similar
customers and similar items (recommend/quality/evaluation.py), its artifact, and
`python -m recommend evaluate` (recommend/quality/cli.py)."""
