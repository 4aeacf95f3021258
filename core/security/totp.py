"""The optional TOTP second factor (RFC 6238, 30 s steps, 6 digits): enrol, verify, disable.

The secret is stored Fernet-encrypted in ``users.totp_secret`` (same key as the API keys). A code
is accepted for the current step and one step either side (clock drift) and never twice: the
last accepted step is kept in ``users.totp_last_step``. Enabling and disabling are audited.

When a code is required (:func:`totp_required`): always once a user enrolled; for users who did
not, at login when the policy is ``always``, or — policy ``auto`` — when live trading is on and
the dashboard listens beyond localhost (then they must enrol before they see any page).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.config import TotpPolicy
from core.errors import PermanentError
from core.security.secrets import load_or_create_fernet_key
from core.system.models import UserAccount
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

ISSUER = "Konsens"
STEP_SECONDS = 30
DRIFT_STEPS = 1
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class TotpError(PermanentError, ValueError):
    """A TOTP change cannot be made as asked (wrong code, not enrolled, demo login)."""


def new_totp_secret() -> str:
    """Return a fresh random base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """Return the ``otpauth://`` URI an authenticator app enrols from."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_png(uri: str, *, scale: int = 6) -> bytes:
    """Return a PNG QR code of ``uri``."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


def listens_beyond_localhost(address: str | None) -> bool:
    """Return True if a server bound to ``address`` is reachable from other machines (None = all interfaces)."""
    return (address or "0.0.0.0").strip().lower() not in LOCAL_ADDRESSES  # nosec B104: a comparison, not a bind


def totp_required(policy: TotpPolicy, *, live_enabled: bool, listen_address: str | None) -> bool:
    """Return True if every login must pass a TOTP code (users without one must enrol first)."""
    if policy is TotpPolicy.ALWAYS:
        return True
    return live_enabled and listens_beyond_localhost(listen_address)


def _fernet() -> Fernet:
    return Fernet(load_or_create_fernet_key())


def _secret_of(user: UserAccount) -> str | None:
    if user.totp_secret is None:
        return None
    try:
        return _fernet().decrypt(user.totp_secret).decode()
    except InvalidToken as error:
        raise TotpError("the TOTP secret cannot be decrypted: the secret key changed") from error


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def has_totp(user: UserAccount | None) -> bool:
    """Return True if ``user`` enrolled a TOTP second factor."""
    return user is not None and user.totp_secret is not None and user.totp_enabled_at is not None


def verify_totp(session: Session, username: str, code: str, *, now: datetime | None = None) -> bool:
    """Check a code of ``username``'s enrolled secret; a code (time step) is accepted only once."""
    user = session.get(UserAccount, username)
    if not has_totp(user):
        return False
    assert user is not None
    secret = _secret_of(user)
    step = _matching_step(secret or "", code, now or utc_now()) if secret else None
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        logger.warning("TOTP code refused for user %s", username)
        return False
    user.totp_last_step = step
    return True


def enable_totp(
    session: Session, username: str, secret: str, code: str, *, actor: str, now: datetime | None = None
) -> None:
    """Enrol ``secret`` for ``username`` after checking one code from the authenticator app. Audited."""
    user = session.get(UserAccount, username)
    if user is None:
        raise TotpError(f"user {username!r} does not exist")
    if user.is_demo:
        raise TotpError("the demo login cannot have a second factor; remove the demo data and use your own login")
    now = now or utc_now()
    step = _matching_step(secret, code, now)
    if step is None:
        raise TotpError("the code does not match: check the authenticator app's clock and enter the current code")
    user.totp_secret = _fernet().encrypt(secret.encode())
    user.totp_enabled_at = now
    user.totp_last_step = step
    append_audit(session, actor=actor, action=AuditAction.TOTP_ENABLED, subject=f"user:{username}", details={})
    logger.info("TOTP enabled for user %s", username)


def disable_totp(session: Session, username: str, code: str, *, actor: str, now: datetime | None = None) -> None:
    """Remove the second factor of ``username`` after checking a current code. Audited."""
    user = session.get(UserAccount, username)
    if not has_totp(user):
        raise TotpError("two-factor authentication is not enabled")
    if not verify_totp(session, username, code, now=now):
        raise TotpError("the code is wrong or was used already")
    assert user is not None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.totp_for_orders = False
    append_audit(session, actor=actor, action=AuditAction.TOTP_DISABLED, subject=f"user:{username}", details={})
    logger.info("TOTP disabled for user %s", username)


def live_orders_need_code(session: Session, username: str) -> bool:
    """Return True if ``username`` chose to confirm every live order with a fresh code."""
    user = session.get(UserAccount, username)
    return has_totp(user) and user is not None and bool(user.totp_for_orders)


def set_totp_for_orders(session: Session, username: str, enabled: bool, *, actor: str) -> None:
    """Choose whether every live order confirmation asks ``username`` for a fresh code. Audited."""
    user = session.get(UserAccount, username)
    if not has_totp(user):
        raise TotpError("enable two-factor authentication first")
    assert user is not None
    if bool(user.totp_for_orders) == enabled:
        return
    user.totp_for_orders = enabled
    append_audit(
        session,
        actor=actor,
        action=AuditAction.SETTING_CHANGED,
        subject=f"user:{username}:totp_for_orders",
        details={"before": not enabled, "after": enabled},
    )
