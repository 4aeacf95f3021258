"""The way out of demo mode on the pages: the refusal dialog and the "Remove demo data" dialog."""

from __future__ import annotations

import streamlit as st

from app.ui.context import AUTH_STATUS_KEY, USERNAME_KEY, database
from core.security.demo_guard import DemoModeError

REFUSAL_TITLE = "Demo mode is still on"
REMOVE_DEMO_OPEN_KEY = "_konsens_remove_demo_open"


@st.dialog(REFUSAL_TITLE)
def _refusal_dialog(message: str) -> None:
    st.error(message, icon=":material/science:")
    st.caption(
        "Demo mode ends with **Remove demo data** in Settings → Account & security (it also creates your own "
        "login), or with `konsens demo --remove` on the command line."
    )


def show_demo_refusal(error: DemoModeError) -> None:
    """Show the one refusal message of a real act tried in demo mode, as a dialog."""
    _refusal_dialog(str(error))


def _remove_and_create_login(username: str, password: str, actor: str) -> str:
    from core.demo.removal import remove_demo_data
    from core.security.users import create_user

    with database().session() as session:
        result = remove_demo_data(session, actor=actor)
        user = create_user(session, username, password, actor=actor)
        return f"Demo mode ended: {result.total_deleted} demo rows removed. Log in as {user.username}."


@st.dialog("Remove demo data")
def remove_demo_dialog() -> None:
    """Ask for confirmation and a new own login, then remove every demo row and the demo login at once."""
    from core.security.users import MIN_PASSWORD_LENGTH, UserError

    st.warning(
        "This deletes every demo row — demo instruments and their candles, demo news, the demo paper account, "
        "opinions, backtest runs and alerts — the **demo/demo** login and the demo setting, in one step. "
        "Rows that are your own are kept. Create your own login here, so you can log in afterwards.",
        icon=":material/warning:",
    )
    with st.form("remove_demo_form"):
        username = st.text_input("Your new username", key="remove_demo_username")
        password = st.text_input(
            "Password", type="password", key="remove_demo_password", help=f"At least {MIN_PASSWORD_LENGTH} characters."
        )
        repeat = st.text_input("Repeat the password", type="password", key="remove_demo_repeat")
        confirmed = st.checkbox("I understand: the demo data and the demo login are deleted", key="remove_demo_ok")
        submitted = st.form_submit_button("Remove demo data", type="primary", key="remove_demo_submit")
    if st.button("Cancel", key="remove_demo_cancel"):
        st.session_state.pop(REMOVE_DEMO_OPEN_KEY, None)
        st.rerun()
    if not submitted:
        return
    if not confirmed:
        st.error("Tick the confirmation first.")
        return
    if password != repeat:
        st.error("The two passwords differ.")
        return
    actor = str(st.session_state.get(USERNAME_KEY) or "dashboard")
    try:
        message = _remove_and_create_login(username, password, actor)
    except UserError as error:
        st.error(f"Nothing removed: {error}.")
        return
    st.session_state.pop(REMOVE_DEMO_OPEN_KEY, None)
    st.session_state[AUTH_STATUS_KEY] = None  # the demo login is gone: log in again with the new one
    st.session_state["_konsens_login_notice"] = message
    st.rerun()
