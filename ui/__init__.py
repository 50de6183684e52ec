"""Vitrine's pages, one module per tab; each exposes render()."""
