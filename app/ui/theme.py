"""Small CSS touches on Streamlit's dark theme: denser layout, compact titles and metrics."""

from __future__ import annotations

import streamlit as st

_CSS = """
<style>
.block-container {padding-top: 2.2rem; padding-bottom: 1.5rem; max-width: 1800px;}
h1 {font-size: 1.75rem !important; padding-top: 0 !important; padding-bottom: 0.4rem !important;}
[data-testid="stMetricValue"] {font-size: 1.55rem; font-variant-numeric: tabular-nums;}
[data-testid="stMetricLabel"] p {font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.04em; opacity: 0.75;}
[data-testid="stAlert"] {padding-top: 0.1rem; padding-bottom: 0.1rem;}
</style>
"""


def apply_theme() -> None:
    """Inject the dashboard's CSS (call once per run, after ``st.set_page_config``)."""
    st.markdown(_CSS, unsafe_allow_html=True)
