"""The Asset (fundamentals) and Macro (economic indicators) panels of the Charts page."""

from __future__ import annotations

import streamlit as st


def asset_panel(instrument_id: int) -> None:
    st.caption("Fundamentals are collected by the market worker once a day.")


def macro_panel() -> None:
    st.caption("Macro series are collected by the market worker once a day.")
