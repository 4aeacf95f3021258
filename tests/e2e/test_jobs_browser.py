"""Headless Chromium: a sweep submitted on the Backtest page runs as a job in a real jobs worker;
its progress moves in place and its result appears without reloading the page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import DEMO_COPY, ROOT, login, open_app, open_page_in_sidebar

pytestmark = pytest.mark.browser
PROGRESS = re.compile(r"(\d+) of (\d+) combinations")


def _jobs(path: Path) -> list[dict[str, object]]:
    from core.db.engine import Database
    from core.jobs.service import list_jobs

    database = Database(f"sqlite:///{path}")
    try:
        return [job.to_dict(with_result=False) for job in database.run(list_jobs)]
    finally:
        database.dispose()


def test_a_sweep_job_shows_progress_moving_and_its_result_without_reload(
    app_server: str, browser: Browser, tmp_path: Path
) -> None:
    database_path = tmp_path / DEMO_COPY  # the dashboard's copy of the demo database
    env = {
        **os.environ,
        "KONSENS_DATABASE_URL": f"sqlite:///{database_path}",
        "KONSENS_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        "KONSENS_METRICS_ENABLED": "false",
        "KONSENS_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "jobs"], cwd=ROOT, env=env)
    try:
        page = open_app(browser, app_server, {"width": 1400, "height": 1100})
        login(page)
        open_page_in_sidebar(page, "Backtest")
        page.get_by_role("tab", name="Sweep").click()
        page.get_by_label("fast range (start:stop:step or a,b,c)").fill("2:21:1")
        page.get_by_label("slow range (start:stop:step or a,b,c)").fill("50:145:5")
        page.get_by_role("button", name="Run sweep").click()
        seen: list[int] = []
        deadline = time.monotonic() + 480  # a loaded 2-core machine
        read_bars = "() => [...document.querySelectorAll(\"[data-testid='stProgress']\")].map(e => e.innerText)"
        while time.monotonic() < deadline and page.get_by_text("Result · done in").count() == 0:
            for text in page.evaluate(read_bars):  # no waiting: the bar is replaced in place
                match = PROGRESS.search(text)
                if match and (not seen or int(match.group(1)) != seen[-1]):
                    seen.append(int(match.group(1)))
            page.wait_for_timeout(200)
        if page.get_by_text("Result · done in").count() == 0:
            pytest.fail(f"no result after 480 s; progress seen {seen}; jobs: {_jobs(database_path)}")
        assert len(seen) >= 2 and seen == sorted(seen), f"progress did not move in place: {seen}"
        assert min(seen) < 400  # progress seen before the 400 combinations were done (it may end at 400)
        expect(page.get_by_text("400 combinations").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "jobs-panel.png"), full_page=True)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
