"""Konsens core: domain and services shared by the dashboard, the workers, the CLI and the tests.

Nothing in this package imports Streamlit.
"""
