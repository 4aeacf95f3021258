"""Headless Chromium: the login cookie survives reloads and tabs, logout ends it, the lockout holds,
demo/demo fails after ``konsens demo --remove``, and live trading on a demo database shows the refusal."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.db.engine import Database
from core.system.models import UserAccount
from tests.e2e.conftest import ROOT, TIMEOUT_MS, login, open_app, open_page_in_sidebar, wait_for_app

pytestmark = pytest.mark.browser


def _failed_logins(database: Database) -> int:
    user = database.run(lambda session: session.get(UserAccount, "demo"))
    return int(user.failed_logins or 0) if user is not None else -1


def _wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def _expect_logged_in(page: Page) -> None:
    expect(page.get_by_role("heading", name="Portfolio")).to_be_visible()
    expect(page.get_by_role("button", name="Login")).to_have_count(0)


def _expect_login_form(page: Page) -> None:
    expect(page.get_by_role("button", name="Login")).to_be_visible()
    expect(page.get_by_role("heading", name="Portfolio")).to_have_count(0)


def test_login_survives_reload_and_a_second_tab_until_logout(
    demo_server: tuple[str, dict[str, str]], browser: Browser
) -> None:
    url, _env = demo_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    wait_for_app(page)
    login(page, "demo", "demo")
    _expect_logged_in(page)
    page.wait_for_function("() => document.cookie.includes('konsens_auth=')", timeout=TIMEOUT_MS)
    cookie = next(item for item in context.cookies() if item["name"] == "konsens_auth")
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0

    page.reload()  # F5
    wait_for_app(page)
    _expect_logged_in(page)
    second = context.new_page()  # a second tab / a bookmark in the same browser
    second.goto(url + "/charts")
    wait_for_app(second)
    expect(second.get_by_role("heading", name="Charts")).to_be_visible()
    expect(second.get_by_role("button", name="Login")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    wait_for_app(page)
    _expect_login_form(page)
    page.reload()
    wait_for_app(page)
    _expect_login_form(page)
    # The old cookie, put back by hand, is dead on the server (session version bumped at logout).
    context.add_cookies([{"name": "konsens_auth", "value": cookie["value"], "url": url}])
    page.reload()
    wait_for_app(page)
    _expect_login_form(page)
    context.close()


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    demo_server: tuple[str, dict[str, str]], browser: Browser
) -> None:
    url, env = demo_server
    database = Database(env["KONSENS_DATABASE_URL"])
    page = open_app(browser, url)
    for attempt in range(1, 5):
        login(page, "demo", f"wrong-{attempt}")
        _wait_until(lambda expected=attempt: _failed_logins(database) == expected)  # type: ignore[misc]
    login(page, "demo", "wrong-5")
    expect(page.get_by_text("locked until")).to_be_visible()
    page.reload()  # a fresh session does not reset the counter
    wait_for_app(page)
    login(page, "demo", "demo")
    expect(page.get_by_text("locked until")).to_be_visible()
    _expect_login_form(page)


def test_live_trading_toggle_on_a_demo_database_shows_the_refusal(
    demo_server: tuple[str, dict[str, str]], browser: Browser
) -> None:
    url, _env = demo_server
    page = open_app(browser, url + "/settings", {"width": 1400, "height": 1000})
    login(page, "demo", "demo")
    open_page_in_sidebar(page, "Settings")
    page.get_by_role("tab", name="Trading").click()
    page.get_by_text("Enable live trading").click()
    wait_for_app(page)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Demo mode is still on")
    expect(dialog).to_contain_text("enabling live trading is refused")
    expect(dialog).to_contain_text("konsens demo --remove")


def test_demo_login_fails_after_konsens_demo_remove(
    demo_server: tuple[str, dict[str, str]], browser: Browser, tmp_path: Path
) -> None:
    url, env = demo_server
    page = open_app(browser, url)
    login(page, "demo", "demo")
    _expect_logged_in(page)
    removed = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--remove", "--yes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert removed.returncode == 0, removed.stderr
    assert "Demo mode ended" in removed.stdout
    added = subprocess.run(
        [sys.executable, "-m", "app.cli", "user", "add", "anna"],
        cwd=ROOT,
        env=env,
        input="correct horse battery\ncorrect horse battery\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    page.reload()  # the demo session and its cookie are no longer valid
    wait_for_app(page)
    _expect_login_form(page)
    login(page, "demo", "demo")
    expect(page.get_by_text("Username or password is wrong.")).to_be_visible()
    login(page, "anna", "correct horse battery")
    _expect_logged_in(page)
    expect(page.get_by_text("Demo data.")).to_have_count(0)
