from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.db.engine import Database
from core.security.secrets import SecretStore, SecretStoreError, load_or_create_fernet_key
from core.security.users import UserError, cookie_key, create_user, login_users, verify_password
from core.system.models import StoredSecret


def test_key_file_is_created_once_with_mode_0600(isolated_settings: Path) -> None:
    first = load_or_create_fernet_key()
    second = load_or_create_fernet_key()
    assert first == second
    mode = stat.S_IMODE((isolated_settings / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_secrets_are_stored_encrypted_and_shown_masked(sqlite_database: Database) -> None:
    store = SecretStore()
    with sqlite_database.session() as session:
        store.set(session, "newsapi", "abcd-1234-SECRET-9876")
    with sqlite_database.session() as session:
        row = session.get(StoredSecret, "newsapi")
        assert row is not None
        assert b"SECRET" not in row.ciphertext
        assert store.get(session, "newsapi") == "abcd-1234-SECRET-9876"
        assert store.masked(session) == {"newsapi": "••••9876"}


def test_a_secret_under_another_key_is_a_clear_error(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        SecretStore().set(session, "k", "value-1")
    with sqlite_database.session() as session, pytest.raises(SecretStoreError, match="cannot be decrypted"):
        SecretStore(Fernet.generate_key()).get(session, "k")


def test_users_get_bcrypt_hashes_and_bad_input_is_refused(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        user = create_user(session, "Anna", "correct horse")
        assert user.password_hash.startswith("$2")
        assert verify_password("correct horse", user.password_hash)
        assert not verify_password("wrong", user.password_hash)
        with pytest.raises(UserError, match="exists"):
            create_user(session, "anna", "another password")
        with pytest.raises(UserError, match="at least"):
            create_user(session, "bert", "short")
        with pytest.raises(UserError, match="username"):
            create_user(session, "a b", "long enough pw")


def test_demo_user_can_log_in_only_in_demo_mode(sqlite_database: Database) -> None:
    from core.system.models import UserAccount

    with sqlite_database.session() as session:
        create_user(session, "anna", "correct horse")  # before the demo row: refused beside a demo login
        session.add(UserAccount(username="demo", display_name="Demo", password_hash="x", is_demo=True))
    with sqlite_database.session() as session:
        assert [u.username for u in login_users(session, include_demo=False)] == ["anna"]
        assert [u.username for u in login_users(session, include_demo=True)] == ["anna", "demo"]


def test_cookie_key_is_random_and_persistent(isolated_settings: Path) -> None:
    key = cookie_key()
    assert len(key) >= 40
    assert cookie_key() == key
