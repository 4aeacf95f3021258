"""Entry points: the Streamlit dashboard (``app/main.py``) and the ``konsens`` command line."""
