"""Dashboard users: bcrypt hashes in the ``users`` table, the cookie signing key in a 0600 file."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.system.models import UserAccount

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.-]{3,60}$")
MIN_PASSWORD_LENGTH = 8
COOKIE_KEY_FILE = "cookie.key"


class UserError(ValueError):
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


def create_user(
    session: Session, username: str, password: str, *, display_name: str | None = None, email: str | None = None
) -> UserAccount:
    """Create a login; refuse a taken or malformed name and a short password."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise UserError("username must be 3-60 characters of a-z, 0-9, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.get(UserAccount, username) is not None:
        raise UserError(f"user {username!r} exists already")
    user = UserAccount(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password),
        is_demo=False,
    )
    session.add(user)
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
