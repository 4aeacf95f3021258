from __future__ import annotations

from core.db.engine import Database
from core.security.secrets import SecretStore
from core.security.users import LoginOutcome, authenticate, create_user


def test_account_section_lists_keys_masked_and_deletes_one(demo_database: Database, run_page) -> None:  # type: ignore[no-untyped-def]
    store = SecretStore()
    demo_database.run(lambda s: store.set(s, "ccxt.onetrading.api_key", "sk-live-abcdef123456WXYZ"))
    app = run_page("settings")
    assert "Account & security" in [tab.label for tab in app.tabs]
    texts = " ".join(block.value for block in app.markdown)
    assert "••••WXYZ" in texts
    assert "abcdef123456" not in texts
    app.button(key="delete_secret_ccxt.onetrading.api_key").click().run()
    assert not app.exception
    assert demo_database.run(store.masked) == {}
    assert "No API keys stored." in [caption.value for caption in app.caption]


def test_change_own_password(configured_sqlite: Database, run_page) -> None:  # type: ignore[no-untyped-def]
    configured_sqlite.run(lambda s: create_user(s, "alice", "old password"))
    app = run_page("settings", username="alice")
    app.text_input(key="account_current_password").input("old password")
    app.text_input(key="account_new_password").input("new password 2")
    app.text_input(key="account_repeat_password").input("new password 2")
    app.button(key="account_change_password").click().run()
    assert not app.exception
    assert "Password changed." in [item.value for item in app.success]
    result = configured_sqlite.run(lambda s: authenticate(s, "alice", "new password 2", include_demo=False))
    assert result.outcome is LoginOutcome.SUCCESS


def test_change_password_with_a_wrong_current_password_is_refused(configured_sqlite: Database, run_page) -> None:  # type: ignore[no-untyped-def]
    configured_sqlite.run(lambda s: create_user(s, "alice", "old password"))
    app = run_page("settings", username="alice")
    app.text_input(key="account_current_password").input("not it")
    app.text_input(key="account_new_password").input("new password 2")
    app.text_input(key="account_repeat_password").input("new password 2")
    app.button(key="account_change_password").click().run()
    assert [item.value for item in app.error] == ["Password not changed: the current password is wrong."]
