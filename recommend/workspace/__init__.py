"""A shop's workspace: its orders and every recommender built from them (model.py), built by
`python -m recommend build` (cli.py) or from the app's "Your data" page."""
