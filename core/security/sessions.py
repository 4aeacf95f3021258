"""The login cookie: a signed, expiring token checked against the user's server-side session version.

The token is ``base64url(payload).base64url(HMAC-SHA256)`` with the key of
``$KONSENS_HOME/cookie.key``; the payload holds the username, the user's ``session_version`` at
login, the user row's creation time (so a login removed and created again under the same name
does not inherit old cookies) and the expiry. A token is accepted only while it is unexpired, correctly signed, its user
still exists (a demo user only in demo mode) and its version is still the user's — logging out
and changing the password bump the version, so every earlier cookie of that user dies at once,
in every browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.system.models import UserAccount
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

LOGIN_COOKIE_NAME = "konsens_auth"


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: str, payload: str) -> str:
    return _encode(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest())


def _incarnation(user: UserAccount) -> int:
    return int(user.created_at.timestamp() * 1_000_000) if user.created_at is not None else 0


def issue_login_token(user: UserAccount, *, key: str, lifetime: timedelta, now: datetime | None = None) -> str:
    """Return a signed login token for ``user`` valid for ``lifetime`` from ``now``."""
    expires = (now or utc_now()) + lifetime
    payload = _encode(
        json.dumps(
            {
                "u": user.username,
                "v": user.session_version or 0,
                "c": _incarnation(user),
                "exp": int(expires.timestamp()),
            },
            separators=(",", ":"),
        ).encode()
    )
    return f"{payload}.{_signature(key, payload)}"


def verify_login_token(
    session: Session, token: str | None, *, key: str, include_demo: bool, now: datetime | None = None
) -> UserAccount | None:
    """Return the user a login token stands for, or None if it is not (or no longer) valid."""
    if not token or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _signature(key, payload)):
        logger.info("Login cookie refused: bad signature")
        return None
    try:
        data = json.loads(_decode(payload))
        username, version, incarnation = str(data["u"]), int(data["v"]), int(data["c"])
        expires = int(data["exp"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if expires <= (now or utc_now()).timestamp():
        return None
    user = session.get(UserAccount, username)
    if user is None or (user.is_demo and not include_demo):
        return None
    if (user.session_version or 0) != version or _incarnation(user) != incarnation:
        logger.info("Login cookie refused: user %s logged out or changed the password since", username)
        return None
    return user


def end_sessions(session: Session, username: str) -> None:
    """Invalidate every login cookie of ``username`` (logout, password change)."""
    user = session.get(UserAccount, username)
    if user is not None:
        user.session_version = (user.session_version or 0) + 1


def session_is_current(session: Session, username: str, version: int, *, include_demo: bool) -> bool:
    """Return True if a logged-in dashboard session of ``username`` at ``version`` is still valid."""
    user = session.get(UserAccount, username)
    if user is None or (user.is_demo and not include_demo):
        return False
    return (user.session_version or 0) == version
