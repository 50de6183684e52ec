"""How good is each recommender on a data set: one evaluation for similar products, similar
customers and similar items (evaluation.py) and its artifact; a data set by name is evaluated by
shop/evaluation.py (`python -m recommend evaluate`, shop/evaluate_cli.py)."""
