"""Vitrine's HTTP API: the app's answers for a web shop, over the same artifacts (app.py), with
keys (keys.py), reloading rebuilt artifacts without a restart (store.py); `python -m api`."""
