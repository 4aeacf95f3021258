"""Settings → Account & security: change the own password; stored API keys (masked) with delete."""

from __future__ import annotations

from functools import partial

import streamlit as st

from app.ui.context import USERNAME_KEY
from core.db.engine import Database
from core.security.secrets import SecretStore
from core.security.users import MIN_PASSWORD_LENGTH, UserError, change_password

TITLE = "Account & security"
ORDER = 90


def render(database: Database) -> None:
    """Render the password form and the stored-keys list."""
    username = str(st.session_state.get(USERNAME_KEY) or "")
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Change password")
        with st.form("change_password", clear_on_submit=True):
            current = st.text_input(
                "Current password", type="password", autocomplete="current-password", key="account_current_password"
            )
            new = st.text_input(
                "New password", type="password", autocomplete="new-password",
                help=f"At least {MIN_PASSWORD_LENGTH} characters.", key="account_new_password",
            )  # fmt: skip
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
                    st.success("Password changed.")
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
