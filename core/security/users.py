"""Dashboard users: bcrypt hashes in the ``users`` table, the cookie signing key in a 0600 file."""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.config import Settings, get_settings
from core.errors import PermanentError
from core.security.demo_guard import RealAct, refuse_while_demo
from core.system.models import UserAccount
from core.timeutil import to_vienna, utc_now

logger = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.-]{3,60}$")
MIN_PASSWORD_LENGTH = 8
COOKIE_KEY_FILE = "cookie.key"
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15
WRONG_CREDENTIALS_MESSAGE = "Username or password is wrong."


@cache
def _dummy_hash() -> str:
    """A hash checked when the username is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


class UserError(PermanentError, ValueError):
    """A user cannot be created or changed as asked."""


def hash_password(password: str) -> str:
    """Return the bcrypt hash of ``password``."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Return True if ``password`` matches ``password_hash``."""
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


def check_new_username(session: Session, username: str) -> str:
    """Return the normalised ``username`` if a new login may take it, else raise ``UserError``."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise UserError("username must be 3-60 characters of a-z, 0-9, '.', '_' or '-'")
    if session.get(UserAccount, username) is not None:
        raise UserError(f"user {username!r} exists already")
    return username


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    actor: str = "cli",
) -> UserAccount:
    """Create a login; refuse a taken or malformed name, a short password, and any login in demo mode."""
    refuse_while_demo(session, RealAct.ADD_LOGIN)
    username = check_new_username(session, username)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = UserAccount(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password),
        is_demo=False,
    )
    session.add(user)
    append_audit(session, actor=actor, action=AuditAction.USER_ADDED, subject=f"user:{username}", details={})
    return user


def login_users(session: Session, *, include_demo: bool) -> list[UserAccount]:
    """Return the users allowed to log in (the demo user only in demo mode)."""
    query = select(UserAccount).order_by(UserAccount.username)
    if not include_demo:
        query = query.where(UserAccount.is_demo.is_(False))
    return list(session.scalars(query))


def cookie_key(settings: Settings | None = None) -> str:
    """Return the secret that signs the login cookie, created on first use in a 0600 file."""
    settings = settings or get_settings()
    path = Path(settings.home) / COOKIE_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key


class LoginOutcome(StrEnum):
    """The result of one login attempt."""

    SUCCESS = "success"
    WRONG_CREDENTIALS = "wrong_credentials"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt did, with the message to show."""

    outcome: LoginOutcome
    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    remaining_attempts: int | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is LoginOutcome.SUCCESS

    @property
    def message(self) -> str:
        """A message for the login form (never tells whether the username exists)."""
        if self.outcome is LoginOutcome.SUCCESS:
            return f"Welcome, {self.display_name or self.username}."
        if self.outcome is LoginOutcome.LOCKED and self.locked_until is not None:
            until = to_vienna(self.locked_until).strftime("%H:%M")
            return f"Too many wrong passwords: this account is locked until {until} (Vienna time). Try again later."
        if self.remaining_attempts is not None and self.remaining_attempts <= 2:
            plural = "s" if self.remaining_attempts != 1 else ""
            return (
                f"{WRONG_CREDENTIALS_MESSAGE} {self.remaining_attempts} attempt{plural} left "
                f"before the account is locked for {LOCKOUT_MINUTES} minutes."
            )
        return WRONG_CREDENTIALS_MESSAGE


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    include_demo: bool,
    now: datetime | None = None,
) -> LoginResult:
    """Check a login and record it: count wrong passwords, lock after ``MAX_FAILED_LOGINS``.

    The counter lives in the ``users`` row, so it survives page reloads and restarts. A locked
    account refuses even the right password until ``locked_until``; a good login resets the
    counter. The demo user can log in only when ``include_demo`` (demo mode).
    """
    now = now or utc_now()
    name = username.strip().lower()
    user = session.get(UserAccount, name) if name else None
    if user is not None and user.is_demo and not include_demo:
        user = None
    if user is None:
        verify_password(password, _dummy_hash())
        logger.info("Login refused: unknown user")
        _audit_failure(session, name, "unknown user")
        return LoginResult(LoginOutcome.WRONG_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        logger.warning("Login refused: user %s is locked until %s", user.username, user.locked_until.isoformat())
        _audit_failure(session, user.username, "account locked")
        return LoginResult(LoginOutcome.LOCKED, username=user.username, locked_until=user.locked_until)
    if not verify_password(password, user.password_hash):
        if user.locked_until is not None:  # an expired lock: start counting afresh
            user.locked_until = None
            user.failed_logins = 0
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
            user.failed_logins = 0
            logger.warning("User %s locked for %d minutes after wrong passwords", user.username, LOCKOUT_MINUTES)
            append_audit(
                session,
                actor="login",
                action=AuditAction.LOGIN_LOCKED,
                subject=f"user:{user.username}",
                details={"minutes": LOCKOUT_MINUTES, "until": user.locked_until.isoformat()},
            )
            return LoginResult(LoginOutcome.LOCKED, username=user.username, locked_until=user.locked_until)
        logger.info("Login refused: wrong password for %s (%d in a row)", user.username, user.failed_logins)
        _audit_failure(session, user.username, "wrong password", in_a_row=user.failed_logins)
        return LoginResult(
            LoginOutcome.WRONG_CREDENTIALS,
            remaining_attempts=MAX_FAILED_LOGINS - user.failed_logins,
        )
    user.failed_logins = 0
    user.locked_until = None
    logger.info("User %s logged in", user.username)
    return LoginResult(LoginOutcome.SUCCESS, username=user.username, display_name=user.display_name, email=user.email)


def _audit_failure(session: Session, username: str, reason: str, **details: object) -> None:
    append_audit(
        session,
        actor="login",
        action=AuditAction.LOGIN_FAILED,
        subject=f"user:{username[:60] or '?'}",
        details={"reason": reason, **details},
    )


def change_password(session: Session, username: str, old_password: str, new_password: str) -> None:
    """Set a new password after checking the old one; refuse a short or unchanged password.

    Every login cookie of the user dies (the session version is bumped); the change is audited.
    """
    user = session.get(UserAccount, username)
    if user is None:
        raise UserError(f"user {username!r} does not exist")
    if user.is_demo:
        raise UserError("the demo login's password cannot be changed")
    if not verify_password(old_password, user.password_hash):
        raise UserError("the current password is wrong")
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if new_password == old_password:
        raise UserError("the new password is the same as the current one")
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    user.session_version = (user.session_version or 0) + 1
    append_audit(session, actor=username, action=AuditAction.PASSWORD_CHANGED, subject=f"user:{username}", details={})
    logger.info("Password of user %s changed", user.username)


def list_users(session: Session) -> list[UserAccount]:
    """Return every login, by username (demo user included)."""
    return list(session.scalars(select(UserAccount).order_by(UserAccount.username)))


def remove_user(session: Session, username: str, *, actor: str = "cli") -> None:
    """Delete a login (its cookies die with it); raise ``UserError`` if there is none of that name. Audited."""
    user = session.get(UserAccount, username.strip().lower())
    if user is None:
        raise UserError(f"user {username!r} does not exist")
    session.delete(user)
    append_audit(session, actor=actor, action=AuditAction.USER_REMOVED, subject=f"user:{user.username}", details={})
    logger.info("User %s removed", user.username)


def unlock_user(session: Session, username: str) -> None:
    """Clear a lockout and the wrong-password counter of a login."""
    user = session.get(UserAccount, username.strip().lower())
    if user is None:
        raise UserError(f"user {username!r} does not exist")
    user.failed_logins = 0
    user.locked_until = None
