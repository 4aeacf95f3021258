"""`konsens up` seeds an empty database, starts the workers (forked or fresh) and stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.demo.seed import has_demo_data
from core.system.models import WorkerHeartbeat, WorkerStatus
from workers.registry import worker_modules

ROOT = Path(__file__).resolve().parents[2]


def _konsens_env(tmp_path: Path, database_path: Path) -> dict[str, str]:
    """The environment of a `konsens` child: its own home and SQLite database, this checkout's code."""
    return {
        **os.environ,
        "KONSENS_HOME": str(tmp_path / "home"),
        "KONSENS_DATABASE_URL": f"sqlite:///{database_path}",
        "PYTHONPATH": str(ROOT),
    }


def _start_up(env: dict[str, str], *options: str, own_group: bool = False) -> subprocess.Popen[str]:
    """Start `konsens up --no-dashboard OPTIONS`, its output (both streams) read by ``communicate``.

    ``own_group``: in its own process group, so a signal to the group reaches every process of it,
    as Ctrl-C in a terminal does.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--no-dashboard", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_group,
    )


@pytest.mark.slow
@pytest.mark.parametrize("fork", ["--fork", "--no-fork"])
def test_up_seeds_demo_starts_every_worker_and_stops_cleanly_on_sigterm(tmp_path: Path, fork: str) -> None:
    database_path = tmp_path / "up.db"
    process = _start_up(_konsens_env(tmp_path, database_path), fork)
    expected = set(worker_modules())
    database = Database(f"sqlite:///{database_path}")
    try:
        deadline = time.monotonic() + 120
        seen: set[str] = set()
        seeded = False
        while time.monotonic() < deadline and not (seeded and seen == expected):
            time.sleep(1)
            if database_path.exists():
                try:
                    with database.session() as session:
                        seeded = has_demo_data(session)
                        seen = set(session.scalars(select(WorkerHeartbeat.worker)))
                except Exception:
                    continue
        assert seeded
        assert seen == expected, f"heartbeats seen: {seen}, expected {expected}"
        time.sleep(1)  # the supervisor has installed its signal handlers by now
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "seeding demo data" in output
    with database.session() as session:
        statuses = {row.worker: row.status for row in session.scalars(select(WorkerHeartbeat))}
    assert all(status is WorkerStatus.STOPPED for status in statuses.values()), (statuses, output[-3000:])
    database.dispose()


@pytest.mark.slow
def test_ctrl_c_during_the_seed_is_a_stop_and_the_next_seed_finishes_it(tmp_path: Path) -> None:
    from core.demo.state import demo_seed_unfinished

    database_path = tmp_path / "up.db"
    env = _konsens_env(tmp_path, database_path)
    process = _start_up(env, own_group=True)
    database = Database(f"sqlite:///{database_path}")
    try:
        deadline = time.monotonic() + 120
        unfinished = False
        while time.monotonic() < deadline and not unfinished:  # the base seed is in, the areas' data not yet
            time.sleep(0.1)
            if database_path.exists():
                try:
                    unfinished = database.run(demo_seed_unfinished)
                except Exception:
                    continue
        assert unfinished, "the demo seed never reached its areas"
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, output
    assert "Stopped while seeding the demo data" in output, output
    assert "failed" not in output, output
    assert database.run(demo_seed_unfinished)
    again = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--if-empty"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "finishing it" in again.stdout
    assert not database.run(demo_seed_unfinished)
    database.dispose()
