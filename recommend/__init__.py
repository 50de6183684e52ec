"""Vitrine's recommenders: pure NumPy/SciPy/pandas, no TensorFlow and no Streamlit."""
