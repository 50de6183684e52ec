"""Vitrine's one door to data sets: every demo set and every shop workspace, and any part of any of
them, for the app (ui/), the API (api/) and the evaluation. It sits above embed/ and recommend/."""
