"""The dashboard's start-up check: unknown or invalid settings stop it with what to fix."""

from __future__ import annotations

from functools import lru_cache

import streamlit as st

from core.config import ConfigurationError, check_startup


@lru_cache(maxsize=1)
def configuration_problem() -> str | None:
    """Return why the configuration cannot be used, or None (checked once per server process)."""
    try:
        check_startup()
    except ConfigurationError as error:
        return str(error)
    return None


def configuration_gate() -> bool:
    """Show the configuration error and render nothing else; True if the configuration is usable."""
    problem = configuration_problem()
    if problem is None:
        return True
    st.error(f"Konsens cannot start: {problem}. Fix the setting and restart the dashboard.")
    return False
