"""The login gate: streamlit-authenticator for the signed cookie and logout, core for the password.

The password check and the wrong-password lockout live in ``core.security.users.authenticate``
(the counter is in the ``users`` table, so a page reload does not reset it). This module only
renders the form and, after a good login, lets streamlit-authenticator set its signed cookie
(key: ``$KONSENS_HOME/cookie.key``) so a reload keeps the user logged in.
"""

from __future__ import annotations

import logging

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.orm import Session

from app.ui.context import AUTH_STATUS_KEY, USERNAME_KEY, database, read
from core.demo.state import has_demo_data
from core.security.users import LoginResult, authenticate, cookie_key, login_users

logger = logging.getLogger(__name__)

COOKIE_NAME = "konsens_auth"
COOKIE_EXPIRY_DAYS = 7
LOGIN_MESSAGE_KEY = "_konsens_login_message"


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


def _try_login(username: str, password: str) -> LoginResult:
    return database().run(
        lambda session: authenticate(session, username, password, include_demo=has_demo_data(session))
    )


def _login_form(authenticator: stauth.Authenticate) -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title(":material/insights: Konsens")
        st.caption("AI trading analyst workstation — please log in.")
        with st.form("login", clear_on_submit=False):
            username = st.text_input("Username", autocomplete="username", key="login_username")
            password = st.text_input("Password", type="password", autocomplete="current-password", key="login_password")
            submitted = st.form_submit_button("Login", type="primary", width="stretch", key="login_submit")
        if submitted:
            if not username or not password:
                st.error("Enter a username and a password.")
                return
            result = _try_login(username, password)
            if not result.ok:
                st.error(result.message, icon=":material/lock:")
                return
            st.session_state[AUTH_STATUS_KEY] = True
            st.session_state[USERNAME_KEY] = result.username
            st.session_state["name"] = result.display_name
            st.session_state["email"] = result.email
            st.session_state["logout"] = False
            try:
                authenticator.cookie_controller.set_cookie()
            except Exception as error:  # no cookie (e.g. in tests): the session stays logged in
                logger.warning("Login cookie not set: %s", error)
            st.rerun()


def login_gate() -> bool:
    """Render the login form until a user is logged in; return True once logged in."""
    credentials = _credentials()
    if not credentials["usernames"]:
        st.title("Konsens")
        st.error(
            "No login exists yet. Create one with `konsens user add USERNAME`, or seed demo data with `konsens demo`."
        )
        return False
    authenticator = stauth.Authenticate(
        credentials, COOKIE_NAME, cookie_key(), cookie_expiry_days=COOKIE_EXPIRY_DAYS, auto_hash=False,
        login_sleep_time=0,
    )  # fmt: skip
    if (
        st.session_state.get(AUTH_STATUS_KEY) is True
        and st.session_state.get(USERNAME_KEY) not in (credentials["usernames"])
    ):
        # The user was removed (or demo mode ended) since this session logged in.
        st.session_state[AUTH_STATUS_KEY] = None
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        try:  # a valid signed cookie from an earlier login logs in without the form
            authenticator.login(location="unrendered")
        except Exception as error:  # a cookie of a user who no longer exists
            logger.info("Login cookie refused: %s", error)
            st.session_state[AUTH_STATUS_KEY] = None
        if st.session_state.get(AUTH_STATUS_KEY) is not True:
            _login_form(authenticator)
            return False
    with st.sidebar:
        st.caption(f"Logged in as **{st.session_state.get('name') or st.session_state.get(USERNAME_KEY)}**")
        authenticator.logout("Log out", location="sidebar")
    return True
