"""Settings → Account & security: demo mode's end, own password, two-factor authentication, stored API keys."""

from __future__ import annotations

from functools import partial

import streamlit as st

from app.ui.auth import enrolment_form, renew_login_cookie
from app.ui.context import USERNAME_KEY
from app.ui.demo_exit import REMOVE_DEMO_OPEN_KEY, remove_demo_dialog
from core.db.engine import Database
from core.security.demo_guard import demo_data_present
from core.security.secrets import SecretStore
from core.security.totp import TotpError, disable_totp, has_totp, set_totp_for_orders
from core.security.users import MIN_PASSWORD_LENGTH, UserError, change_password
from core.system.models import UserAccount

TITLE = "Account & security"
ORDER = 90


def _demo_section(database: Database) -> None:
    if not database.run(demo_data_present):
        return
    with st.container(border=True):
        st.subheader("Demo mode")
        st.markdown(
            "This database holds **demo data** and the public **demo/demo** login. Storing an API key, enabling "
            "live trading, importing an account history and adding a login are refused until demo mode ends."
        )
        if st.button("Remove demo data…", type="primary", icon=":material/delete_sweep:", key="remove_demo_open"):
            st.session_state[REMOVE_DEMO_OPEN_KEY] = True
        if st.session_state.get(REMOVE_DEMO_OPEN_KEY):
            remove_demo_dialog()


def _second_factor_section(database: Database, username: str) -> None:
    st.subheader("Two-factor authentication")
    user = database.run(lambda session: session.get(UserAccount, username))
    if user is None or user.is_demo:
        st.caption("The demo login has no second factor; end demo mode and use your own login.")
        return
    if not has_totp(user):
        st.caption(
            "Optional: a code from an authenticator app (TOTP) at every login. Required when live trading is on "
            "and the dashboard is reachable from other machines."
        )
        if enrolment_form(username, key_prefix="account"):
            st.success("Two-factor authentication is on.")
            st.rerun()
        return
    st.success("Two-factor authentication is on.", icon=":material/phonelink_lock:")
    for_orders = st.toggle(
        "Ask a fresh code for every live order", value=bool(user.totp_for_orders), key="account_totp_orders"
    )
    if for_orders != bool(user.totp_for_orders):
        database.run(lambda session: set_totp_for_orders(session, username, for_orders, actor=username))
        st.rerun()
    with st.form("account_totp_disable", clear_on_submit=True):
        code = st.text_input("Current code", max_chars=6, key="account_totp_disable_code")
        if st.form_submit_button("Turn two-factor authentication off"):
            try:
                database.run(lambda session: disable_totp(session, username, code, actor=username))
            except TotpError as error:
                st.error(f"Still on: {error}.")
            else:
                st.rerun()


def render(database: Database) -> None:
    """Render demo mode's end, the password form, the second factor and the stored-keys list."""
    username = str(st.session_state.get(USERNAME_KEY) or "")
    _demo_section(database)
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Change password")
        with st.form("change_password", clear_on_submit=True):
            current = st.text_input(
                "Current password", type="password", autocomplete="current-password", key="account_current_password"
            )
            new = st.text_input(
                "New password",
                type="password",
                autocomplete="new-password",
                help=f"At least {MIN_PASSWORD_LENGTH} characters.",
                key="account_new_password",
            )
            repeat = st.text_input(
                "Repeat new password", type="password", autocomplete="new-password", key="account_repeat_password"
            )
            submitted = st.form_submit_button("Change password", type="primary", key="account_change_password")
        if submitted:
            if new != repeat:
                st.error("The two new passwords differ.")
            else:
                try:
                    database.run(lambda session: change_password(session, username, current, new))
                except UserError as error:
                    st.error(f"Password not changed: {error}.")
                else:
                    renew_login_cookie(username)  # other browsers are logged out; this one stays
                    st.success("Password changed.")
                    st.caption("Every other browser logged in as you is logged out.")
        _second_factor_section(database, username)
    with right:
        st.subheader("Stored API keys")
        st.caption("Encrypted at rest; only the last four characters are ever shown.")
        store = SecretStore()
        masked = database.run(store.masked)
        if not masked:
            st.caption("No API keys stored.")
        for name, display in sorted(masked.items()):
            row = st.columns([3, 2, 1], vertical_alignment="center")
            row[0].markdown(f"`{name}`")
            row[1].markdown(display)
            if row[2].button("Delete", key=f"delete_secret_{name}", icon=":material/delete:"):
                database.run(partial(store.delete, name=name))
                st.toast(f"Deleted {name}.")
                st.rerun()
