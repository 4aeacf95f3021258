"""What every page needs before it renders: the database, the login check, the demo banner."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from sqlalchemy.orm import Session

from core.db.engine import Database, get_database
from core.db.migrate import upgrade_database
from core.demo.state import DemoSeedState, demo_seed_state

T = TypeVar("T")

AUTH_STATUS_KEY = "authentication_status"
USERNAME_KEY = "username"


@st.cache_resource(show_spinner=False)
def _prepared_database(url: str) -> Database:
    database = get_database()
    upgrade_database(database)
    return database


def database() -> Database:
    """Return the process-wide database with its schema up to date (cached per server process)."""
    from core.config import get_settings

    return _prepared_database(get_settings().effective_database_url)


def read(work: Callable[[Session], T]) -> T:
    """Run a read-only function of a session in a short transaction (retried if transient)."""
    return database().run(work)


def require_login() -> str:
    """Stop the page unless a user is logged in; return the username.

    ``app/main.py`` performs the login; a page opened any other way renders nothing.
    """
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        st.warning("Please log in.")
        st.stop()
    return str(st.session_state.get(USERNAME_KEY) or "")


def demo_banner() -> None:
    """Show the demo-data banner when the database holds demo data (and whether all of it is there yet)."""
    state = read(demo_seed_state)
    if state is not DemoSeedState.NONE:
        st.info(
            "**Demo data.** Prices, news and the paper account on this dashboard are synthetic, "
            "generated locally so every page has content offline. Configure real sources in Settings."
            + (
                "\n\n**Not all of it is there yet:** the demo seed is still running (or was stopped: "
                "`konsens up` or `konsens demo` finishes it). Reload the page in a moment."
                if state is DemoSeedState.UNFINISHED
                else ""
            ),
            icon=":material/science:",
        )


def page_setup(title: str, icon: str | None = None) -> str:
    """Common page start: login check, title, demo banner. Return the username."""
    username = require_login()
    st.title(f"{icon} {title}" if icon else title)
    demo_banner()
    return username
