"""Benchmark: one /metrics scrape of the database state on the demo database, and a backup of it.

Run: ``PYTHONPATH=$PWD python bench/metrics_scrape.py``. Seeds the demo data into a temporary
SQLite file, then prints the first (cold imports) and the median warm time of a full state read
(``StateCollector``, cache bypassed), the CPU time of the warm reads, the size of the scrape, and
the time and size of ``create_backup`` of the same database. Prometheus scrapes every 15 s; a
warm read should stay well under one second.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

REPEATS = 10


def main() -> None:
    from core.backup.archive import create_backup
    from core.db.engine import Database
    from core.db.migrate import upgrade_database
    from core.demo.seed import seed_demo
    from core.observability.state import StateCollector

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        database = Database(f"sqlite:///{home / 'konsens.db'}")
        upgrade_database(database)
        seed_demo(database)
        collector = StateCollector(database, home=home)
        registry = CollectorRegistry()
        registry.register(collector)
        began = time.perf_counter()
        text = generate_latest(registry)
        cold = time.perf_counter() - began
        warm: list[float] = []
        cpu_began = time.process_time()
        for _ in range(REPEATS):
            collector._cached = None  # measure the read, not the 5 s cache
            began = time.perf_counter()
            text = generate_latest(registry)
            warm.append(time.perf_counter() - began)
        cpu = (time.process_time() - cpu_began) / REPEATS
        lines = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
        median = statistics.median(warm) * 1000
        print(
            f"state scrape: cold {cold * 1000:.0f} ms, warm median {median:.0f} ms (best {min(warm) * 1000:.0f} ms, "
            f"CPU {cpu * 1000:.0f} ms), {lines} samples, {len(text):,} bytes"
        )
        began = time.perf_counter()
        result = create_backup(database, home, home / "backups")
        print(
            f"backup: {time.perf_counter() - began:.2f} s, {result.size_bytes:,} bytes, "
            f"{sum(result.manifest['row_counts'].values()):,} rows"
        )
        database.dispose()


if __name__ == "__main__":
    main()
