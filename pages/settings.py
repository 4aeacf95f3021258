"""Settings: one tab per settings section (instruments, data sources, AI, trading, risk...)."""

from __future__ import annotations

import streamlit as st

from app.settings_sections import settings_sections
from app.ui.context import database, page_setup

page_setup("Settings", ":material/settings:")
sections = settings_sections()
if not sections:
    st.info("No settings sections are installed.")
else:
    tabs = st.tabs([section.TITLE for section in sections])
    for tab, section in zip(tabs, sections, strict=True):
        with tab:
            section.render(database())
