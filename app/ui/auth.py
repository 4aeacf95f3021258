"""The login gate: password (and TOTP code), the login cookie, logout.

The password check and the wrong-password lockout live in ``core.security.users.authenticate``
(the counter is in the ``users`` table, so a reload does not reset it); the TOTP check in
``core.security.totp``; the cookie token in ``core.security.sessions`` (signed with the key in
``$KONSENS_HOME/cookie.key``, expiring after ``KONSENS_LOGIN_COOKIE_DAYS``, dead after a logout
or a password change because it carries the user's server-side session version).

Streamlit has no server-side way to set a cookie, so after a login the page sets it with a
small script (``st.html`` with JavaScript, ``SameSite=Strict``, ``Secure`` over HTTPS) and every
new session — a reload, a second tab, a bookmark — reads it from ``st.context.cookies``. Every
script run re-checks the logged-in user against the database, so a logout or a password change
elsewhere, or a removed user, ends this session too.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import streamlit as st
from sqlalchemy.orm import Session

from app.ui.context import AUTH_STATUS_KEY, USERNAME_KEY, database, read
from core.config import get_settings
from core.execution.settings import KEY_LIVE_ENABLED
from core.security.demo_guard import has_demo_data
from core.security.sessions import (
    LOGIN_COOKIE_NAME,
    end_sessions,
    issue_login_token,
    session_is_current,
    verify_login_token,
)
from core.security.totp import (
    enable_totp,
    has_totp,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    totp_required,
    verify_totp,
)
from core.security.users import LoginResult, authenticate, cookie_key, login_users
from core.system.models import UserAccount
from core.system.settings_store import get_setting

logger = logging.getLogger(__name__)

COOKIE_NAME = LOGIN_COOKIE_NAME
SESSION_VERSION_KEY = "_konsens_session_version"
PENDING_COOKIE_KEY = "_konsens_pending_cookie"
CLEAR_COOKIE_KEY = "_konsens_clear_cookie"
TOTP_PENDING_KEY = "_konsens_totp_pending"
ENROL_SECRET_KEY = "_konsens_enrol_secret"
LOGIN_NOTICE_KEY = "_konsens_login_notice"


def _cookie_lifetime() -> timedelta:
    return timedelta(days=get_settings().login_cookie_days)


def _login_required_totp() -> bool:
    live = bool(read(lambda session: get_setting(session, KEY_LIVE_ENABLED, False)))
    return totp_required(get_settings().totp_policy, live_enabled=live, listen_address=st.get_option("server.address"))


def _cookie_script(value: str | None, max_age_seconds: int) -> str:
    """Return a script that sets (or, with ``value`` None, deletes) the login cookie of this site."""
    assignment = (
        f"{COOKIE_NAME}=" + (value or "") + f"; Max-Age={max_age_seconds if value else 0}; Path=/; SameSite=Strict"
    )
    return (
        "<script>(function(){var c=" + json.dumps(assignment) + ";"
        "if(window.location.protocol==='https:'){c+='; Secure';}document.cookie=c;})();</script>"
    )


def _write_pending_cookie() -> None:
    token = st.session_state.pop(PENDING_COOKIE_KEY, None)
    if token is not None:
        st.html(_cookie_script(token, int(_cookie_lifetime().total_seconds())), unsafe_allow_javascript=True)
    if st.session_state.pop(CLEAR_COOKIE_KEY, False):
        st.html(_cookie_script(None, 0), unsafe_allow_javascript=True)


def _start_session(user: UserAccount) -> None:
    """Mark this Streamlit session logged in as ``user`` and queue its login cookie."""
    st.session_state[AUTH_STATUS_KEY] = True
    st.session_state[USERNAME_KEY] = user.username
    st.session_state["name"] = user.display_name
    st.session_state["email"] = user.email
    st.session_state[SESSION_VERSION_KEY] = user.session_version or 0
    st.session_state[PENDING_COOKIE_KEY] = issue_login_token(user, key=cookie_key(), lifetime=_cookie_lifetime())


def renew_login_cookie(username: str) -> None:
    """After a password change: keep this session logged in with a cookie of the new session version."""
    user = read(lambda session: session.get(UserAccount, username))
    if user is not None:
        _start_session(user)


def _end_session() -> None:
    for key in (USERNAME_KEY, "name", "email", SESSION_VERSION_KEY, TOTP_PENDING_KEY):
        st.session_state.pop(key, None)
    st.session_state[AUTH_STATUS_KEY] = None
    st.session_state[CLEAR_COOKIE_KEY] = True


def _logout() -> None:
    """Logout button callback: every cookie of this user dies (server side), this browser's is deleted."""
    username = st.session_state.get(USERNAME_KEY)
    if username:

        def record(session: Session) -> None:
            from core.audit import AuditAction, append_audit

            end_sessions(session, str(username))
            append_audit(session, actor=str(username), action=AuditAction.LOGOUT, subject=f"user:{username}")

        database().run(record)
    _end_session()


def _try_login(username: str, password: str) -> LoginResult:
    return database().run(
        lambda session: authenticate(session, username, password, include_demo=has_demo_data(session))
    )


def _load_user(username: str) -> UserAccount | None:
    return read(lambda session: session.get(UserAccount, username))


def _login_form() -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title(":material/insights: Konsens")
        st.caption("AI trading analyst workstation — please log in.")
        notice = st.session_state.pop(LOGIN_NOTICE_KEY, None)
        if notice:
            st.success(notice)
        with st.form("login", clear_on_submit=False):
            username = st.text_input("Username", autocomplete="username", key="login_username")
            password = st.text_input("Password", type="password", autocomplete="current-password", key="login_password")
            submitted = st.form_submit_button("Login", type="primary", width="stretch", key="login_submit")
        if submitted:
            if not username or not password:
                st.error("Enter a username and a password.")
                return
            result = _try_login(username, password)
            if not result.ok or result.username is None:
                st.error(result.message, icon=":material/lock:")
                return
            user = _load_user(result.username)
            if user is None:
                st.error(result.message, icon=":material/lock:")
                return
            if has_totp(user):
                st.session_state[TOTP_PENDING_KEY] = user.username
                st.rerun()
            _start_session(user)
            st.rerun()


def _totp_form(username: str) -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title(":material/insights: Konsens")
        st.caption(f"Two-factor authentication for **{username}**: enter the code from your authenticator app.")
        with st.form("login_totp"):
            code = st.text_input("Code", max_chars=6, autocomplete="one-time-code", key="login_totp_code")
            submitted = st.form_submit_button("Verify", type="primary", width="stretch", key="login_totp_submit")
        if st.button("Back to the login", key="login_totp_back"):
            st.session_state.pop(TOTP_PENDING_KEY, None)
            st.rerun()
        if submitted:
            accepted = database().run(lambda session: _check_code(session, username, code))
            if not accepted:
                st.error("The code is wrong or was used already.", icon=":material/lock:")
                return
            user = _load_user(username)
            st.session_state.pop(TOTP_PENDING_KEY, None)
            if user is not None:
                _start_session(user)
            st.rerun()


def _check_code(session: Session, username: str, code: str) -> bool:
    if verify_totp(session, username, code):
        return True
    from core.audit import AuditAction, append_audit

    append_audit(
        session,
        actor="login",
        action=AuditAction.LOGIN_FAILED,
        subject=f"user:{username}",
        details={"reason": "wrong second-factor code"},
    )
    return False


def enrolment_form(username: str, *, key_prefix: str) -> bool:
    """Render the TOTP enrolment (QR code, secret, code check); return True once enrolled."""
    secret_key = f"{ENROL_SECRET_KEY}_{key_prefix}"
    secret = st.session_state.get(secret_key) or new_totp_secret()
    st.session_state[secret_key] = secret
    uri = provisioning_uri(secret, username)
    left, right = st.columns([1, 2])
    left.image(qr_png(uri), caption="Scan with an authenticator app", width=220)
    with right:
        st.caption("Or enter this secret by hand:")
        st.code(secret, language=None)
        with st.form(f"{key_prefix}_totp_enrol"):
            code = st.text_input("Code shown by the app", max_chars=6, key=f"{key_prefix}_totp_code")
            submitted = st.form_submit_button("Enable two-factor authentication", type="primary")
    if not submitted:
        return False
    from core.security.totp import TotpError

    try:
        database().run(lambda session: enable_totp(session, username, secret, code, actor=username))
    except TotpError as error:
        st.error(f"Not enabled: {error}.")
        return False
    st.session_state.pop(secret_key, None)
    return True


def _enrolment_gate(username: str) -> None:
    st.title(":material/insights: Konsens")
    st.warning(
        "Live trading is on and this dashboard is reachable from other machines: every login needs a second "
        "factor. Enrol an authenticator app (TOTP) to continue.",
        icon=":material/phonelink_lock:",
    )
    if enrolment_form(username, key_prefix="gate"):
        st.success("Two-factor authentication is on.")
        st.rerun()
    st.button("Log out", on_click=_logout, key="gate_logout")


def _still_valid() -> bool:
    """Re-check a logged-in session against the database (removed user, logout or password change elsewhere)."""
    username = str(st.session_state.get(USERNAME_KEY) or "")
    version = int(st.session_state.get(SESSION_VERSION_KEY) or 0)

    def check(session: Session) -> bool:
        return session_is_current(session, username, version, include_demo=has_demo_data(session))

    return bool(username) and read(check)


def login_gate() -> bool:
    """Render the login (and second-factor) forms until a user is logged in; return True once logged in."""
    st.session_state.setdefault(AUTH_STATUS_KEY, None)
    _write_pending_cookie()
    if st.session_state.get(AUTH_STATUS_KEY) is True and SESSION_VERSION_KEY not in st.session_state:
        # Logged in by a caller that set the state directly (tests): take the user's current version.
        user = _load_user(str(st.session_state.get(USERNAME_KEY) or ""))
        st.session_state[SESSION_VERSION_KEY] = (user.session_version or 0) if user is not None else -1
    if st.session_state.get(AUTH_STATUS_KEY) is True and not _still_valid():
        _end_session()
        _write_pending_cookie()
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        pending = st.session_state.get(TOTP_PENDING_KEY)
        if pending:
            _totp_form(str(pending))
            return False
        token = st.context.cookies.get(COOKIE_NAME)
        if token:

            def verify(session: Session) -> UserAccount | None:
                include_demo = has_demo_data(session)
                return verify_login_token(session, token, key=cookie_key(), include_demo=include_demo)

            user = read(verify)
            if user is not None:
                _start_session(user)
                st.session_state.pop(PENDING_COOKIE_KEY, None)  # the browser has this cookie already
        if st.session_state.get(AUTH_STATUS_KEY) is not True:
            users = read(lambda session: login_users(session, include_demo=has_demo_data(session)))
            if not users:
                st.title("Konsens")
                notice = st.session_state.pop(LOGIN_NOTICE_KEY, None)
                if notice:
                    st.success(notice)
                st.error(
                    "No login exists yet. Create one with `konsens user add USERNAME`, "
                    "or seed demo data with `konsens demo`."
                )
                return False
            _login_form()
            return False
    username = str(st.session_state.get(USERNAME_KEY))
    if _login_required_totp() and not has_totp(_load_user(username)):
        _enrolment_gate(username)
        return False
    with st.sidebar:
        st.caption(f"Logged in as **{st.session_state.get('name') or username}**")
        st.button("Log out", on_click=_logout, key="logout_button", icon=":material/logout:")
    return True
