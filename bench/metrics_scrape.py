"""Benchmark: one /metrics scrape of the database state on the demo database, and a backup of it.

Run: ``PYTHONPATH=$PWD python bench/metrics_scrape.py``. Seeds the demo data into a temporary
SQLite file, then prints the first (cold imports) and the median warm time of a full state read
(``StateCollector``, cache bypassed), the CPU time of the warm reads, the size of the scrape, and
the time and size of ``create_backup`` of the same database. Prometheus scrapes every 15 s; a
warm read should stay well under one second. Baseline, in the same run: a scrape of a registry
with only prometheus_client's own process and platform collectors (what any exporter costs);
the warm state read is printed as a ratio of its CPU time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import load_line, measure

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
        baseline_registry = CollectorRegistry()
        baseline_registry.register(PROCESS_COLLECTOR)
        baseline_registry.register(PLATFORM_COLLECTOR)
        generate_latest(baseline_registry)
        baseline = measure(lambda: generate_latest(baseline_registry), repeats=REPEATS)
        lines = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
        median = statistics.median(warm) * 1000
        print(
            f"state scrape: cold {cold * 1000:.0f} ms, warm median {median:.0f} ms (best {min(warm) * 1000:.0f} ms, "
            f"CPU {cpu * 1000:.0f} ms), {lines} samples, {len(text):,} bytes"
        )
        print(
            f"baseline, a scrape of the process and platform collectors only: CPU {baseline.cpu * 1000:.1f} ms; "
            f"the warm state read takes {cpu / max(baseline.cpu, 1e-9):.0f}x its CPU time"
        )
        print(load_line())
        began = time.perf_counter()
        result = create_backup(database, home, home / "backups")
        print(
            f"backup: {time.perf_counter() - began:.2f} s, {result.size_bytes:,} bytes, "
            f"{sum(result.manifest['row_counts'].values()):,} rows"
        )
        database.dispose()


if __name__ == "__main__":
    main()
