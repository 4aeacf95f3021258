"""Encrypted storage of API keys: Fernet, key from ``KONSENS_SECRET_KEY`` or a 0600 key file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import PermanentError
from core.security.demo_guard import RealAct, refuse_while_demo
from core.system.models import StoredSecret
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"


class SecretStoreError(PermanentError, RuntimeError):
    """A secret cannot be read: wrong key or damaged ciphertext."""


def load_or_create_fernet_key(settings: Settings | None = None) -> bytes:
    """Return the Fernet key: from settings, else from ``$KONSENS_HOME/secret.key`` (created 0600)."""
    settings = settings or get_settings()
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.home) / KEY_FILE_NAME
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    logger.info("Created a new secret key file at %s", path)
    return key


def _audit_key_change(session: Session, actor: str, name: str, details: dict[str, object]) -> None:
    from core.audit import AuditAction, append_audit

    append_audit(session, actor=actor, action=AuditAction.KEY_CHANGED, subject=f"secret:{name}", details=details)


def mask(value: str) -> str:
    """Return a display form of a secret: only its last four characters."""
    return "••••" + value[-4:] if len(value) > 4 else "••••"


class SecretStore:
    """Read and write encrypted secrets in the ``secrets`` table."""

    def __init__(self, key: bytes | None = None):
        self._fernet = Fernet(key or load_or_create_fernet_key())

    def set(self, session: Session, name: str, value: str, *, actor: str = "system") -> None:
        """Store ``value`` encrypted under ``name`` (replacing any previous value); audited without the value.

        Refused while the database holds demo data (``DemoModeError``).
        """
        if not value:
            raise ValueError("an empty secret cannot be stored; delete it instead")
        refuse_while_demo(session, RealAct.STORE_API_KEY)
        ciphertext = self._fernet.encrypt(value.encode())
        row = session.get(StoredSecret, name)
        if row is None:
            session.add(StoredSecret(name=name, ciphertext=ciphertext, hint=value[-4:], updated_at=utc_now()))
        else:
            row.ciphertext = ciphertext
            row.hint = value[-4:]
            row.updated_at = utc_now()
        _audit_key_change(session, actor, name, {"stored": True, "hint": "…" + value[-4:]})

    def get(self, session: Session, name: str) -> str | None:
        """Return the decrypted secret, or None if none is stored."""
        row = session.get(StoredSecret, name)
        if row is None:
            return None
        try:
            return self._fernet.decrypt(row.ciphertext).decode()
        except InvalidToken as error:
            raise SecretStoreError(
                f"secret {name!r} cannot be decrypted: the secret key changed or the value is damaged"
            ) from error

    def delete(self, session: Session, name: str, *, actor: str = "system") -> bool:
        """Delete a secret; return whether one existed (a deletion is audited)."""
        row = session.get(StoredSecret, name)
        if row is None:
            return False
        session.delete(row)
        _audit_key_change(session, actor, name, {"deleted": True})
        return True

    def masked(self, session: Session) -> dict[str, str]:
        """Return every stored secret's name with its masked display form."""
        return {row.name: "••••" + row.hint for row in session.scalars(select(StoredSecret))}
