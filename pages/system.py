"""System: workers, data freshness, quarantine, database (filled in by the foundation work)."""

from __future__ import annotations

import streamlit as st

from app.ui.context import database, page_setup

page_setup("System", ":material/monitor_heart:")
health = database().health()
st.metric("Database", health.kind, "ok" if health.ok else "down")
