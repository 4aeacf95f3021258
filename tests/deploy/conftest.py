"""A running Konsens worker serving /metrics over a copy of the demo database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import free_port, stop_process

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MONITORING = PROJECT_ROOT / "deploy" / "monitoring"


def wait_for(url: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError as error:
            last = error
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s: {last}")


@dataclass
class RunningWorker:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape(self) -> str:
        return wait_for(self.url)


@pytest.fixture(scope="module")
def running_worker(demo_database_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    """`konsens worker portfolio` (which also exports the database state) on a demo database copy."""
    import shutil

    folder = tmp_path_factory.mktemp("worker")
    database_path = folder / "demo.db"
    shutil.copy(demo_database_file, database_path)
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("KONSENS_")},
        "KONSENS_HOME": str(folder / "home"),
        "KONSENS_DATABASE_URL": f"sqlite:///{database_path}",
        "KONSENS_METRICS_PORT": str(port),
        "KONSENS_METRICS_ADDRESS": "127.0.0.1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "portfolio", "--interval", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = RunningWorker(port, process)
    try:
        text = worker.scrape()
        deadline = time.monotonic() + 60
        while "konsens_worker_passes_total{" not in text and time.monotonic() < deadline:
            time.sleep(0.5)
            text = worker.scrape()
        yield worker
    finally:
        stop_process(process)
