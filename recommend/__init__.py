"""Vitrine's tabular recommenders, one package each with the same shape (build, write, load,
answer), and what they share in `core/` and `datasets/`. NumPy, SciPy, pandas, scikit-learn and
numba; never TensorFlow or Streamlit."""
