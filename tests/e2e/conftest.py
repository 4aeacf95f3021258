"""Browser tests in the style of Streamlit's e2e_playwright conftest.

The dashboard (``python -m app.server``: ``streamlit run app/main.py`` with warmed imports) starts
headless on a free port against a private copy of the demo database; the tests wait for
``/_stcore/health`` to answer ``ok``, then drive headless Chromium. The helpers every browser test
shares (the browser, opening the app, logging in, the sidebar) live here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_COPY = "browser-demo.db"  # the dashboard's copy of the demo database, in the test's tmp_path
TIMEOUT_MS = 60_000
expect.set_options(timeout=30_000)


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer /_stcore/health on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed (install Debian's chromium package to run browser tests)")
    return CHROMIUM


@contextmanager
def dashboard(database_path: Path, home: Path, log_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Run the dashboard on a free port against ``database_path``; yield its URL and its environment.

    Afterwards the test fails if the dashboard logged a traceback.
    """
    port = free_port()
    env = {
        **os.environ,
        "KONSENS_DATABASE_URL": f"sqlite:///{database_path}",
        "KONSENS_HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.server",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(port, server)
            yield f"http://127.0.0.1:{port}", env
        finally:
            stop_process(server)
    if "Traceback" in log_path.read_text(errors="replace"):
        pytest.fail("the dashboard logged a traceback:\n" + log_path.read_text(errors="replace")[-3000:])


@pytest.fixture
def demo_server(demo_database_file: Path, tmp_path: Path, chromium_path: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The dashboard on a copy of the demo database (``tmp_path / DEMO_COPY``): its URL and its environment."""
    database_path = tmp_path / DEMO_COPY
    shutil.copy(demo_database_file, database_path)
    with dashboard(database_path, tmp_path / "home", tmp_path / "streamlit.log") as served:
        yield served


@pytest.fixture
def app_server(demo_server: tuple[str, dict[str, str]]) -> str:
    """The URL of the dashboard on a copy of the demo database (``tmp_path / DEMO_COPY``)."""
    return demo_server[0]


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium, closed after the test."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_for_app(page: Page) -> None:
    """Wait until the app is connected and no script run is in progress (Streamlit's e2e idiom)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)


def open_app(browser: Browser, url: str, viewport: ViewportSize | None = None) -> Page:
    """A new page of ``browser`` with the tests' timeout, at ``url``, the app loaded."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    wait_for_app(page)
    return page


def login(page: Page, username: str = "demo", password: str = "demo") -> None:
    """Fill in the login form, press Login and wait for the app's answer."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Login").click()
    wait_for_app(page)


def open_page_in_sidebar(page: Page, name: str) -> None:
    """Click the page ``name`` in the sidebar navigation and wait for it."""
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=name).first.click()
    wait_for_app(page)
