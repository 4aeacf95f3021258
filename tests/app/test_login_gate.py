"""The login gate of app/main.py: nothing renders before login; wrong passwords; lockout; demo user."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.security.users import MAX_FAILED_LOGINS, UserAccount, create_user, hash_password

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def _app() -> AppTest:
    app = AppTest.from_file(MAIN, default_timeout=60)
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _submit(app: AppTest, username: str, password: str) -> AppTest:
    app.text_input(key="login_username").input(username)
    app.text_input(key="login_password").input(password)
    app.button(key="login_submit").click().run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def test_nothing_but_the_login_form_renders_before_login(demo_database: Database) -> None:
    app = _app()
    assert [item.label for item in app.text_input] == ["Username", "Password"]
    assert not app.metric and not app.dataframe and not app.get("plotly_chart")
    assert app.session_state["authentication_status"] is not True


def test_a_page_opened_directly_without_login_renders_nothing(demo_database: Database) -> None:
    app = AppTest.from_file(str(Path(MAIN).parents[1] / "pages" / "portfolio.py"), default_timeout=60).run()
    assert [item.value for item in app.warning] == ["Please log in."]
    assert not app.metric and not app.dataframe


def test_demo_login_opens_the_portfolio(demo_database: Database) -> None:
    app = _submit(_app(), "demo", "demo")
    assert app.session_state["authentication_status"] is True
    assert app.session_state["username"] == "demo"
    assert [metric.label for metric in app.metric][:2] == ["Equity", "Cash"]


def test_wrong_password_is_refused_with_a_message(demo_database: Database) -> None:
    app = _submit(_app(), "demo", "not-the-password")
    assert [item.value for item in app.error] == ["Username or password is wrong."]
    assert app.session_state["authentication_status"] is not True
    assert not app.metric


def test_five_wrong_passwords_lock_the_account_across_sessions(demo_database: Database) -> None:
    app = _app()
    for attempt in range(MAX_FAILED_LOGINS):
        _submit(app, "demo", f"wrong-{attempt}")
    assert "locked until" in app.error[0].value
    fresh = _submit(_app(), "demo", "demo")  # a reload is a new session: still locked
    assert "locked until" in fresh.error[0].value
    assert fresh.session_state["authentication_status"] is not True
    user = demo_database.run(lambda s: s.get(UserAccount, "demo"))
    assert user is not None and user.locked_until is not None


def test_demo_user_is_absent_without_demo_data(configured_sqlite: Database) -> None:
    app = _app()
    assert "No login exists yet" in app.error[0].value
    assert not app.text_input
    demo = UserAccount(username="demo", display_name="Demo", is_demo=True, password_hash=hash_password("demo"))
    configured_sqlite.run(lambda s: create_user(s, "alice", "correct horse"))  # refused once a demo login exists
    configured_sqlite.run(lambda s: s.add(demo))  # the right password, but no demo data in this database
    app = _submit(_app(), "demo", "demo")
    assert [item.value for item in app.error] == ["Username or password is wrong."]
    app = _submit(_app(), "alice", "correct horse")
    assert app.session_state["authentication_status"] is True


def _anna_with_totp(database: Database) -> str:
    import pyotp

    from core.security.totp import enable_totp, new_totp_secret

    secret = new_totp_secret()
    database.run(lambda s: create_user(s, "anna", "correct horse battery"))
    database.run(lambda s: enable_totp(s, "anna", secret, pyotp.TOTP(secret).now(), actor="anna"))
    return secret


def test_a_user_with_a_second_factor_needs_a_fresh_code_after_the_password(configured_sqlite: Database) -> None:
    import time

    import pyotp

    secret = _anna_with_totp(configured_sqlite)
    app = _submit(_app(), "anna", "correct horse battery")
    assert app.session_state["authentication_status"] is not True
    assert [item.label for item in app.text_input] == ["Code"]
    app.text_input(key="login_totp_code").input("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    app.button(key="login_totp_submit").click().run()
    assert "The code is wrong or was used already." in [item.value for item in app.error]
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)  # the enrolment used this step's code
    app.text_input(key="login_totp_code").input(pyotp.TOTP(secret).now())
    app.button(key="login_totp_submit").click().run()
    assert not app.exception
    assert app.session_state["authentication_status"] is True
    assert not [item.label for item in app.text_input if item.label == "Code"]


def test_live_trading_on_a_reachable_dashboard_makes_every_user_enrol_first(configured_sqlite: Database) -> None:
    from core.execution.settings import KEY_LIVE_ENABLED
    from core.system.settings_store import set_setting

    configured_sqlite.run(lambda s: create_user(s, "anna", "correct horse battery"))
    configured_sqlite.run(lambda s: set_setting(s, KEY_LIVE_ENABLED, True))
    app = _submit(_app(), "anna", "correct horse battery")  # AppTest: no server.address, i.e. every interface
    assert any("needs a second factor" in item.value for item in app.warning)
    assert not app.metric
    assert app.get("imgs") or app.get("image")  # the QR code to scan


def test_a_logged_in_session_ends_when_the_user_logs_out_elsewhere(configured_sqlite: Database) -> None:
    from core.security.sessions import end_sessions

    configured_sqlite.run(lambda s: create_user(s, "anna", "correct horse battery"))
    app = _submit(_app(), "anna", "correct horse battery")
    assert app.session_state["authentication_status"] is True
    configured_sqlite.run(lambda s: end_sessions(s, "anna"))  # logout in another browser
    app.run()
    assert app.session_state["authentication_status"] is not True
    assert [item.label for item in app.text_input] == ["Username", "Password"]
