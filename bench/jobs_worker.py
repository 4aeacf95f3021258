"""The jobs worker at rest and after a job: idle CPU, memory, and child process vs in-process.

    PYTHONPATH=$PWD python bench/jobs_worker.py [--idle 30] [--hours 8000]

For each mode (a child process per job, the default; ``KONSENS_JOBS_IN_PROCESS=true``), starts
``konsens worker jobs`` on a fresh SQLite database with ``--hours`` of BTC/EUR demo candles and
prints:

- idle: CPU of the worker's process tree in % of one core over ``--idle`` seconds, and its
  memory (PSS, RSS where PSS is unavailable);
- one sweep job (sma-cross, 10 × 10 combinations, fast path): wall seconds from submit to done,
  CPU seconds of the tree including the finished child;
- the worker's memory after the job, and its ratio to the idle memory measured in the same run
  (the baseline): a child process returns the job's memory, in-process keeps the imports.

The machine's load average is printed at the start and the end (the figures depend on it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.footprint import cpu_percent_between, sample_tree  # noqa: E402


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _tree_cpu_with_children(pid: int) -> float:
    """CPU seconds of the worker itself plus its waited-for children (``/proc/PID/stat`` 14-17)."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()
    ticks = float(os.sysconf("SC_CLK_TCK"))
    return sum(int(value) for value in fields[11:15]) / ticks


def _seed(url: str, hours: int) -> None:
    from core.db.engine import Database
    from core.db.migrate import upgrade_database
    from core.demo.seed import _store_candles
    from core.market.demo_source import demo_hourly_candles
    from core.market.models import AssetClass, Instrument

    database = Database(url)
    upgrade_database(database)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        _store_candles(session, instrument.id, demo_hourly_candles("BTC/EUR", start, start + timedelta(hours=hours)))
    database.dispose()


def _measure(mode: str, url: str, home: Path, idle_seconds: float) -> dict[str, float]:
    from core.db.engine import Database
    from core.jobs.service import get_job, submit_job

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_DATABASE_URL": url,
        "KONSENS_HOME": str(home),
        "KONSENS_METRICS_ENABLED": "false",
        "KONSENS_LOG_LEVEL": "WARNING",
        "KONSENS_JOBS_IN_PROCESS": "true" if mode == "in-process" else "false",
    }
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "jobs"], cwd=ROOT, env=env)
    database = Database(url)
    try:
        time.sleep(10)  # start-up and the first pass
        first = sample_tree(worker.pid)
        time.sleep(idle_seconds)
        last = sample_tree(worker.pid)
        idle_cpu = cpu_percent_between(first, last)
        idle_memory = last.memory_bytes
        cpu_before = _tree_cpu_with_children(worker.pid)
        began = time.monotonic()
        params = {
            "strategy": "sma-cross",
            "data": "BTC/EUR",
            "timeframe": "1h",
            "engine": "fast",
            "grid": {"fast": "2:20:2", "slow": "30:120:10"},
        }
        job_id = database.run(lambda session: submit_job(session, "backtest-sweep", params).id)
        while True:
            job = database.run(lambda session: get_job(session, job_id))
            assert job is not None
            if job.finished:
                break
            time.sleep(0.2)
        wall = time.monotonic() - began
        assert job.status.value == "succeeded", job.error
        time.sleep(3)  # the child has exited and been waited for
        job_cpu = _tree_cpu_with_children(worker.pid) - cpu_before
        after = sample_tree(worker.pid).memory_bytes
        return {
            "idle_cpu_pct": idle_cpu,
            "idle_mb": idle_memory / 1e6,
            "job_wall_s": wall,
            "job_cpu_s": job_cpu,
            "after_mb": after / 1e6,
            "ratio": after / idle_memory,
        }
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--hours", type=int, default=8000)
    args = parser.parse_args()
    print(f"load average at start: {_load()}")
    for mode in ("child", "in-process"):
        with tempfile.TemporaryDirectory(prefix="konsens-jobs-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            _seed(url, args.hours)
            figures = _measure(mode, url, Path(folder) / "home", args.idle)
        print(
            f"{mode:>10}: idle CPU {figures['idle_cpu_pct']:.2f} % of a core, idle memory {figures['idle_mb']:.0f} MB; "
            f"sweep of 100 combinations on {args.hours:,} candles: {figures['job_wall_s']:.1f} s wall, "
            f"{figures['job_cpu_s']:.1f} s CPU; memory after the job {figures['after_mb']:.0f} MB "
            f"= {figures['ratio']:.2f} × idle"
        )
    print(f"load average at end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
