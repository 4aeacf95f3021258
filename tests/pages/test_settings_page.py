from __future__ import annotations

from core.db.engine import Database
from core.security.secrets import SecretStore
from core.security.users import LoginOutcome, authenticate, create_user


def test_account_section_lists_keys_masked_and_deletes_one(configured_sqlite: Database, run_page) -> None:
    demo_database = configured_sqlite
    demo_database.run(lambda s: create_user(s, "alice", "old password"))
    store = SecretStore()
    demo_database.run(lambda s: store.set(s, "ccxt.onetrading.api_key", "sk-live-abcdef123456WXYZ"))
    app = run_page("settings", username="alice")
    assert "Account & security" in [tab.label for tab in app.tabs]
    texts = " ".join(block.value for block in app.markdown)
    assert "••••WXYZ" in texts
    assert "abcdef123456" not in texts
    app.button(key="delete_secret_ccxt.onetrading.api_key").click().run()
    assert not app.exception
    assert demo_database.run(store.masked) == {}
    assert "No API keys stored." in [caption.value for caption in app.caption]


def test_change_own_password(configured_sqlite: Database, run_page) -> None:
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


def test_change_password_with_a_wrong_current_password_is_refused(configured_sqlite: Database, run_page) -> None:
    configured_sqlite.run(lambda s: create_user(s, "alice", "old password"))
    app = run_page("settings", username="alice")
    app.text_input(key="account_current_password").input("not it")
    app.text_input(key="account_new_password").input("new password 2")
    app.text_input(key="account_repeat_password").input("new password 2")
    app.button(key="account_change_password").click().run()
    assert [item.value for item in app.error] == ["Password not changed: the current password is wrong."]


def test_demo_database_offers_remove_demo_data_which_creates_the_own_login(
    demo_database: Database,
    run_page,
) -> None:
    from core.security.demo_guard import demo_data_present
    from core.security.users import list_users

    app = run_page("settings")
    app.button(key="remove_demo_open").click().run()
    assert not app.exception
    app.text_input(key="remove_demo_username").input("anna")
    app.text_input(key="remove_demo_password").input("correct horse battery")
    app.text_input(key="remove_demo_repeat").input("correct horse battery")
    app.button(key="remove_demo_submit").click().run()  # not confirmed: nothing happens
    assert "Tick the confirmation first." in [item.value for item in app.error]
    assert demo_database.run(demo_data_present)
    app.checkbox(key="remove_demo_ok").check()
    app.button(key="remove_demo_submit").click().run()
    assert not app.exception
    assert not demo_database.run(demo_data_present)
    assert [user.username for user in demo_database.run(list_users)] == ["anna"]
    assert app.session_state["authentication_status"] is None  # the demo session ends with the demo login
