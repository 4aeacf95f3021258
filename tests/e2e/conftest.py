"""Browser tests in the style of Streamlit's e2e_playwright conftest.

The dashboard (``python -m app.server``: ``streamlit run app/main.py`` with warmed imports) starts
headless on a free port against a private copy of the demo database; the tests wait for
``/_stcore/health`` to answer ``ok``, then drive headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@pytest.fixture
def app_server(demo_database_file: Path, tmp_path: Path, chromium_path: str) -> Iterator[str]:
    """Start the dashboard on a free port against a copy of the demo database; yield its URL."""
    database_path = tmp_path / "browser-demo.db"
    shutil.copy(demo_database_file, database_path)
    port = _free_port()
    env = {
        **os.environ,
        "KONSENS_DATABASE_URL": f"sqlite:///{database_path}",
        "KONSENS_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
    }
    log_path = tmp_path / "streamlit.log"
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
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if "Traceback" in log_path.read_text(errors="replace"):
        pytest.fail("the dashboard logged a traceback:\n" + log_path.read_text(errors="replace")[-3000:])
