"""Settings: one tab per settings section (instruments, data sources, AI, trading, risk...)."""

from __future__ import annotations

import streamlit as st

from app.settings_sections import settings_sections
from app.ui.context import database, page_setup
from app.ui.demo_exit import show_demo_refusal
from core.security.demo_guard import DemoModeError

page_setup("Settings", ":material/settings:")
sections = settings_sections()
if not sections:
    st.info("No settings sections are installed.")
else:
    tabs = st.tabs([section.TITLE for section in sections])
    for tab, section in zip(tabs, sections, strict=True):
        with tab:
            try:
                section.render(database())
            except DemoModeError as error:  # a real act (API key, live trading...) tried in demo mode
                st.error(str(error), icon=":material/science:")
                show_demo_refusal(error)
