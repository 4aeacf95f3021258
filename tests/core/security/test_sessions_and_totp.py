"""The login cookie token (expiry, server-side version, removed users) and the TOTP second factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.config import TotpPolicy
from core.db.engine import Database
from core.security.events import security_events
from core.security.sessions import end_sessions, issue_login_token, verify_login_token
from core.security.totp import (
    TotpError,
    disable_totp,
    enable_totp,
    has_totp,
    listens_beyond_localhost,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    set_totp_for_orders,
    totp_required,
    verify_totp,
)
from core.security.users import MAX_FAILED_LOGINS, authenticate, change_password, create_user, remove_user
from core.system.models import UserAccount

KEY = "k" * 48
NOW = datetime(2026, 12, 3, 8, 0, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def _anna(database: Database) -> None:
    with database.session() as session:
        create_user(session, "anna", "correct horse battery")


def _token(database: Database, lifetime: timedelta = 3 * DAY) -> str:
    with database.session() as session:
        user = session.get(UserAccount, "anna")
        assert user is not None
        return issue_login_token(user, key=KEY, lifetime=lifetime, now=NOW)


def _valid(database: Database, token: str, *, now: datetime = NOW, key: str = KEY) -> bool:
    with database.session() as session:
        return verify_login_token(session, token, key=key, include_demo=False, now=now) is not None


def test_a_login_token_is_valid_until_it_expires(database: Database) -> None:
    _anna(database)
    token = _token(database)
    assert _valid(database, token)
    assert _valid(database, token, now=NOW + 3 * DAY - timedelta(seconds=1))
    assert not _valid(database, token, now=NOW + 3 * DAY)


def test_a_tampered_or_foreign_token_is_refused(database: Database) -> None:
    _anna(database)
    token = _token(database)
    payload, signature = token.split(".")
    assert not _valid(database, token, key="another key")
    assert not _valid(database, payload + "." + signature[::-1])
    assert not _valid(database, "garbage")
    assert not _valid(database, "")


def test_logout_and_password_change_kill_every_earlier_token(database: Database) -> None:
    _anna(database)
    first = _token(database)
    with database.session() as session:
        end_sessions(session, "anna")  # logout
    assert not _valid(database, first)
    second = _token(database)
    assert _valid(database, second)
    with database.session() as session:
        change_password(session, "anna", "correct horse battery", "a new long password")
    assert not _valid(database, second)
    assert _valid(database, _token(database))


def test_a_token_of_a_removed_user_is_never_valid_again(database: Database) -> None:
    _anna(database)
    token = _token(database)
    with database.session() as session:
        remove_user(session, "anna")
    assert not _valid(database, token)
    _anna(database)  # the same name created again (session version 0 again) is another user
    assert not _valid(database, token)


def test_a_demo_token_needs_demo_mode(database: Database) -> None:
    with database.session() as session:
        session.add(UserAccount(username="demo", display_name="Demo", password_hash="x", is_demo=True))
    with database.session() as session:
        user = session.get(UserAccount, "demo")
        assert user is not None
        token = issue_login_token(user, key=KEY, lifetime=DAY, now=NOW)
        assert verify_login_token(session, token, key=KEY, include_demo=True, now=NOW) is not None
        assert verify_login_token(session, token, key=KEY, include_demo=False, now=NOW) is None


def _code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_totp_enrol_verify_once_and_disable_with_audit(database: Database) -> None:
    _anna(database)
    secret = new_totp_secret()
    assert provisioning_uri(secret, "anna").startswith("otpauth://totp/Konsens:anna?secret=")
    assert qr_png(provisioning_uri(secret, "anna")).startswith(b"\x89PNG")
    with database.session() as session, pytest.raises(TotpError, match="does not match"):
        enable_totp(
            session, "anna", secret, "000000" if _code(secret, NOW) != "000000" else "111111", actor="anna", now=NOW
        )
    with database.session() as session:
        enable_totp(session, "anna", secret, _code(secret, NOW), actor="anna", now=NOW)
    with database.session() as session:
        user = session.get(UserAccount, "anna")
        assert has_totp(user) and user is not None and user.totp_secret is not None
        assert secret.encode() not in user.totp_secret  # stored encrypted
    later = NOW + timedelta(seconds=60)
    with database.session() as session:
        assert not verify_totp(session, "anna", _code(secret, NOW), now=later - timedelta(seconds=30))  # replay
        assert verify_totp(session, "anna", _code(secret, later), now=later)
        assert not verify_totp(session, "anna", _code(secret, later), now=later)  # the same code twice
        assert not verify_totp(session, "anna", "12345", now=later)
        assert verify_totp(session, "anna", _code(secret, later + timedelta(seconds=30)), now=later)  # drift
    with database.session() as session:
        set_totp_for_orders(session, "anna", True, actor="anna")
        with pytest.raises(TotpError, match="wrong or was used"):
            disable_totp(session, "anna", "000000", actor="anna", now=later + timedelta(minutes=5))
    final = later + timedelta(minutes=10)
    with database.session() as session:
        disable_totp(session, "anna", _code(secret, final), actor="anna", now=final)
    with database.session() as session:
        user = session.get(UserAccount, "anna")
        assert not has_totp(user) and user is not None and not user.totp_for_orders
        actions = [row.action for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions.count(AuditAction.TOTP_ENABLED) == 1 and actions.count(AuditAction.TOTP_DISABLED) == 1
        assert verify_audit_chain(session).ok


def test_the_demo_login_cannot_enrol_a_second_factor(database: Database) -> None:
    with database.session() as session:
        session.add(UserAccount(username="demo", display_name="Demo", password_hash="x", is_demo=True))
    secret = new_totp_secret()
    with database.session() as session, pytest.raises(TotpError, match="demo login"):
        enable_totp(session, "demo", secret, _code(secret, NOW), actor="demo", now=NOW)


@pytest.mark.parametrize(
    ("policy", "live", "address", "required"),
    [
        (TotpPolicy.AUTO, False, "0.0.0.0", False),
        (TotpPolicy.AUTO, True, "127.0.0.1", False),
        (TotpPolicy.AUTO, True, "localhost", False),
        (TotpPolicy.AUTO, True, "0.0.0.0", True),
        (TotpPolicy.AUTO, True, None, True),  # Streamlit's default: every interface
        (TotpPolicy.AUTO, True, "192.168.1.20", True),
        (TotpPolicy.ALWAYS, False, "127.0.0.1", True),
    ],
)
def test_when_a_second_factor_is_required(policy: TotpPolicy, live: bool, address: str | None, required: bool) -> None:
    assert totp_required(policy, live_enabled=live, listen_address=address) is required
    assert listens_beyond_localhost(address) is (address not in ("127.0.0.1", "localhost"))


def test_failed_logins_and_the_lockout_are_audited_and_listed(database: Database) -> None:
    _anna(database)
    for attempt in range(MAX_FAILED_LOGINS):
        with database.session() as session:
            authenticate(session, "anna", f"wrong-{attempt}", include_demo=False, now=NOW)
    with database.session() as session:
        authenticate(session, "nobody", "x", include_demo=False, now=NOW)
    with database.session() as session:
        overview = security_events(session, since=NOW - DAY)
        actions = [event.action for event in overview.events]
        assert actions.count(AuditAction.LOGIN_FAILED) == MAX_FAILED_LOGINS  # 4 wrong + the unknown user
        assert actions.count(AuditAction.LOGIN_LOCKED) == 1
        assert AuditAction.USER_ADDED in actions
        assert overview.failed_logins_since == MAX_FAILED_LOGINS + 1
        assert all("wrong-" not in str(event.details) for event in overview.events)  # never a password


def test_storing_and_deleting_any_secret_is_audited_without_the_value(database: Database) -> None:
    from core.security.secrets import SecretStore

    store = SecretStore()
    with database.session() as session:
        store.set(session, "news.newsapi", "abcd-1234-SECRET-9876", actor="anna")
        store.delete(session, "news.newsapi", actor="anna")
        assert not store.delete(session, "news.newsapi", actor="anna")  # nothing there: nothing audited
    with database.session() as session:
        events = security_events(session, since=NOW - DAY).events
        changes = [event for event in events if event.action is AuditAction.KEY_CHANGED]
        assert [event.details for event in reversed(changes)] == [{"stored": True, "hint": "…9876"}, {"deleted": True}]
        assert all(event.actor == "anna" and event.subject == "secret:news.newsapi" for event in changes)
        assert "SECRET" not in str([event.details for event in events])
