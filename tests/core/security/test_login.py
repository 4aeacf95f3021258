from __future__ import annotations

from datetime import timedelta

import pytest

from core.db.engine import Database
from core.security.users import (
    MAX_FAILED_LOGINS,
    LoginOutcome,
    UserAccount,
    UserError,
    authenticate,
    change_password,
    create_user,
    hash_password,
    remove_user,
)
from tests.core.portfolio.handmade import NOW


@pytest.fixture
def alice(sqlite_database: Database) -> Database:
    sqlite_database.run(lambda s: create_user(s, "Alice", "correct horse"))
    return sqlite_database


def _login(database: Database, password: str, *, username: str = "alice", now=NOW, include_demo=False):
    return database.run(lambda s: authenticate(s, username, password, include_demo=include_demo, now=now))


def test_right_password_logs_in_and_wrong_one_is_refused(alice: Database) -> None:
    assert _login(alice, "correct horse").outcome is LoginOutcome.SUCCESS
    wrong = _login(alice, "wrong")
    assert wrong.outcome is LoginOutcome.WRONG_CREDENTIALS
    assert wrong.message == "Username or password is wrong."
    assert wrong.remaining_attempts == MAX_FAILED_LOGINS - 1
    unknown = _login(alice, "x", username="mallory")
    assert unknown.outcome is LoginOutcome.WRONG_CREDENTIALS and unknown.message == wrong.message


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(alice: Database) -> None:
    results = [_login(alice, f"wrong{i}", now=NOW + timedelta(seconds=i)) for i in range(MAX_FAILED_LOGINS)]
    assert [r.outcome for r in results[:-1]] == [LoginOutcome.WRONG_CREDENTIALS] * (MAX_FAILED_LOGINS - 1)
    assert "1 attempt left" in results[-2].message
    assert results[-1].outcome is LoginOutcome.LOCKED
    assert "locked until" in results[-1].message
    locked = _login(alice, "correct horse", now=NOW + timedelta(minutes=5))
    assert locked.outcome is LoginOutcome.LOCKED
    row = alice.run(lambda s: s.get(UserAccount, "alice"))
    assert row is not None and row.locked_until == NOW + timedelta(seconds=4, minutes=15)
    after = _login(alice, "correct horse", now=NOW + timedelta(minutes=16))
    assert after.outcome is LoginOutcome.SUCCESS
    row = alice.run(lambda s: s.get(UserAccount, "alice"))
    assert row is not None and (row.failed_logins, row.locked_until) == (0, None)


def test_a_good_login_resets_the_counter(alice: Database) -> None:
    for _ in range(MAX_FAILED_LOGINS - 1):
        _login(alice, "wrong")
    assert _login(alice, "correct horse").ok
    assert _login(alice, "wrong").remaining_attempts == MAX_FAILED_LOGINS - 1


def test_demo_user_logs_in_only_in_demo_mode(sqlite_database: Database) -> None:
    sqlite_database.run(
        lambda s: s.add(
            UserAccount(username="demo", display_name="Demo", is_demo=True, password_hash=hash_password("demo"))
        )
    )
    assert _login(sqlite_database, "demo", username="demo").outcome is LoginOutcome.WRONG_CREDENTIALS
    assert _login(sqlite_database, "demo", username="demo", include_demo=True).ok


def test_change_password_checks_the_old_one(alice: Database) -> None:
    with pytest.raises(UserError, match="current password is wrong"):
        alice.run(lambda s: change_password(s, "alice", "nope", "new password 1"))
    with pytest.raises(UserError, match="at least 8"):
        alice.run(lambda s: change_password(s, "alice", "correct horse", "short"))
    alice.run(lambda s: change_password(s, "alice", "correct horse", "new password 1"))
    assert not _login(alice, "correct horse").ok
    assert _login(alice, "new password 1").ok


def test_remove_user(alice: Database) -> None:
    alice.run(lambda s: remove_user(s, "alice"))
    with pytest.raises(UserError, match="does not exist"):
        alice.run(lambda s: remove_user(s, "alice"))
