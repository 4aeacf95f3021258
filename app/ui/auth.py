"""Login through streamlit-authenticator over the ``users`` table (bcrypt hashes)."""

from __future__ import annotations

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.orm import Session

from app.ui.context import AUTH_STATUS_KEY, read
from core.demo.seed import has_demo_data
from core.security.users import cookie_key, login_users

COOKIE_NAME = "konsens_auth"
MAX_LOGIN_ATTEMPTS = 5


def _credentials() -> dict[str, dict[str, dict[str, object]]]:
    def load(session: Session) -> dict[str, dict[str, object]]:
        users = login_users(session, include_demo=has_demo_data(session))
        return {
            user.username: {
                "name": user.display_name,
                "email": user.email or f"{user.username}@localhost",
                "password": user.password_hash,
            }
            for user in users
        }

    return {"usernames": read(load)}


def login_gate() -> bool:
    """Render the login form until a user is logged in; return True once logged in."""
    credentials = _credentials()
    if not credentials["usernames"]:
        st.title("Konsens")
        st.error(
            "No login exists yet. Create one with `konsens user add USERNAME`, or seed demo data with `konsens demo`."
        )
        return False
    authenticator = stauth.Authenticate(credentials, COOKIE_NAME, cookie_key(), cookie_expiry_days=7, auto_hash=False)
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        st.title("Konsens")
        try:
            authenticator.login(location="main", max_login_attempts=MAX_LOGIN_ATTEMPTS)
        except Exception as error:  # e.g. too many attempts: the library raises with a message
            st.error(str(error))
            return False
        status = st.session_state.get(AUTH_STATUS_KEY)
        if status is False:
            st.error("Username or password is wrong.")
        if status is not True:
            return False
    with st.sidebar:
        st.caption(f"Logged in as **{st.session_state.get('name') or st.session_state.get('username')}**")
        authenticator.logout("Log out", location="sidebar")
    return True
