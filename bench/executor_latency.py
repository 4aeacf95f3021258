"""Pick-up latency of the executor: from a new order row to its submission.

    PYTHONPATH=$PWD python bench/executor_latency.py [--orders 300] [--db URL]

Starts ``konsens worker executor`` as a subprocess on a fresh database (SQLite file by
default), waits for its first heartbeat, then writes paper orders one at a time at random
intervals (default 50-250 ms, ``--gap-ms 5 50`` for a burst) like the Trade page does.
Latency = ``submitted_at − created_at`` of each order (``created_at`` is stamped before the
order's transaction commits, so this includes the
commit). Prints p50 / p95 / p99 / max; the targets are p50 ≤ 100 ms and p99 ≤ 500 ms.

The baseline, measured in the same run just before the executor starts: the same orders written
the same way while a bare reader process polls the ``orders`` table every 5 ms and notes when it
first sees each one (no checks, no fill, nothing written) — the floor any pick-up has on this
machine at this load. The executor's percentiles are printed as ratios against it, with the CPU
seconds of the executor process and of the baseline reader (from ``/proc/PID/stat``) and the load
average (``os.getloadavg``) at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.db.engine import Database  # noqa: E402
from core.db.migrate import upgrade_database  # noqa: E402
from core.execution.enums import OrderSide  # noqa: E402
from core.execution.models import Order, OrderStatus  # noqa: E402
from core.execution.orders import OrderRequest  # noqa: E402
from core.execution.service import deposit_paper_cash, place_order  # noqa: E402
from core.market.models import AssetClass, Instrument, Quote  # noqa: E402
from core.risk.settings import save_limits  # noqa: E402
from core.system.models import WorkerHeartbeat  # noqa: E402
from core.timeutil import utc_now  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


BASELINE_READER = """
import os, sys, time
from sqlalchemy import create_engine, text
url, stop_file = sys.argv[1], sys.argv[2]
engine = create_engine(url)
seen = set()
with engine.connect() as connection:
    while not os.path.exists(stop_file):
        rows = connection.execute(text("SELECT id FROM orders WHERE status = 'new'")).all()
        connection.commit()
        now = time.time()
        for (order_id,) in rows:
            if order_id not in seen:
                seen.add(order_id)
                print(order_id, repr(now), flush=True)
        time.sleep(0.005)
"""


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (``/proc/PID/stat``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def place_orders(database: Database, count: int, rng: random.Random, gap_ms: tuple[float, float]) -> list[int]:
    """Write ``count`` paper buy orders one at a time with random pauses (as the Trade page would)."""
    ids = []
    for _ in range(count):
        with database.session() as session:
            order = place_order(
                session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.001")), actor="bench"
            )
            session.flush()
            ids.append(order.id)
        time.sleep(rng.uniform(gap_ms[0], gap_ms[1]) / 1000)
    return ids


def baseline(
    database: Database, url: str, count: int, rng: random.Random, gap_ms: tuple[float, float]
) -> tuple[list[float], float | None]:
    """Latencies (ms) of a bare 5 ms polling reader for ``count`` orders, and its CPU seconds."""
    from datetime import UTC, datetime

    stop_file = Path(tempfile.mkdtemp(prefix="konsens-latency-stop-")) / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", BASELINE_READER, url, str(stop_file)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    time.sleep(1.0)  # connected and polling
    ids = set(place_orders(database, count, rng, gap_ms))
    time.sleep(0.5)
    cpu = process_cpu_seconds(reader.pid)
    stop_file.touch()
    output, _ = reader.communicate(timeout=30)
    seen = {int(line.split()[0]): float(line.split()[1]) for line in output.splitlines() if line.strip()}
    created = dict(database.run(lambda s: s.execute(select(Order.id, Order.created_at).where(Order.id.in_(ids))).all()))
    latencies = [
        (datetime.fromtimestamp(seen[order_id], UTC) - created[order_id]).total_seconds() * 1000
        for order_id in ids
        if order_id in seen
    ]
    # The baseline's orders are cancelled so the executor never sees them.
    with database.session() as session:
        for order in session.scalars(select(Order).where(Order.id.in_(ids))):
            order.status = OrderStatus.CANCELLED
    return latencies, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--db", default=None)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--baseline-orders", type=int, default=100, help="orders of the baseline phase (0 = none)")
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs=2,
        default=(50.0, 250.0),
        metavar=("MIN", "MAX"),
        help="random pause between orders (default 50-250 ms; 5 50 = a burst of ~36 orders/s)",
    )
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='konsens-latency-')}/latency.db"
    database = Database(url)
    upgrade_database(database)
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        session.add(Quote(instrument_id=instrument.id, source="bench", ts=utc_now(), last=Decimal("50000")))
        deposit_paper_cash(session, Decimal("10000000"), actor="bench")
        # The benchmark's own limits: the default order-rate breaker (10 orders a minute) would
        # refuse almost every order, and a refused order is never submitted.
        save_limits(session, {"max_orders_per_window": 1_000_000}, actor="bench")
    load_start = os.getloadavg()
    rng = random.Random(args.seed)
    gap = (args.gap_ms[0], args.gap_ms[1])
    base_latencies, base_cpu = (
        baseline(database, url, args.baseline_orders, rng, gap) if args.baseline_orders else ([], None)
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_DATABASE_URL": url,
        "KONSENS_HOME": tempfile.mkdtemp(prefix="konsens-latency-home-"),
        "KONSENS_TRADING_PAPER_PRICE_MAX_AGE_SECONDS": "86400",
        "KONSENS_LOG_LEVEL": "WARNING",
    }
    log_path = Path(env["KONSENS_HOME"]) / "executor.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "app.cli", "worker", "executor"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            beat = database.run(lambda s: s.get(WorkerHeartbeat, "executor"))
            if beat is not None and beat.passes >= 0 and beat.status.value in ("running", "idle"):
                break
            time.sleep(0.05)
        cpu_before = process_cpu_seconds(process.pid)
        ids = place_orders(database, args.orders, rng, gap)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            waiting = database.run(
                lambda s: s.scalar(
                    select(func.count()).select_from(Order).where(Order.id.in_(ids), Order.submitted_at.is_(None))
                )
            )
            if not waiting:
                break
            time.sleep(0.05)
        cpu_after = process_cpu_seconds(process.pid)
        rows = database.run(
            lambda s: s.execute(select(Order.created_at, Order.submitted_at).where(Order.id.in_(ids))).all()
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints the stacks into the log
            process.wait(timeout=10)
            print(f"executor did not stop on SIGTERM; stacks in {log_path}")
    latencies = [(submitted - created).total_seconds() * 1000 for created, submitted in rows if submitted]
    missing = len(rows) - len(latencies)
    p50, p95, p99 = (percentile(latencies, f) for f in (0.5, 0.95, 0.99))
    load_end = os.getloadavg()
    print(f"database:        {database.kind}, order gaps {args.gap_ms[0]:g}-{args.gap_ms[1]:g} ms")
    print(f"load average:    {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end ({os.cpu_count()} CPUs)")
    print(f"orders:          {len(rows)} ({missing} not submitted)")
    print(f"pick-up latency: p50 {p50:.1f} ms | p95 {p95:.1f} ms | p99 {p99:.1f} ms | max {max(latencies):.1f} ms")
    print(f"mean:            {statistics.mean(latencies):.1f} ms")
    if cpu_before is not None and cpu_after is not None:
        spent = cpu_after - cpu_before
        print(
            f"executor CPU:    {spent:.2f} s for {len(rows)} orders "
            f"({spent / max(1, len(rows)) * 1000:.1f} ms an order)"
        )
    if base_latencies:
        b50, b95, b99 = (percentile(base_latencies, f) for f in (0.5, 0.95, 0.99))
        print(
            f"baseline:        bare 5 ms polling reader, {len(base_latencies)} orders: p50 {b50:.1f} ms | "
            f"p95 {b95:.1f} ms | p99 {b99:.1f} ms" + (f" | reader CPU {base_cpu:.2f} s" if base_cpu is not None else "")
        )
        print(
            f"ratio:           executor / baseline: p50 {p50 / max(b50, 0.1):.1f}x | p95 {p95 / max(b95, 0.1):.1f}x | "
            f"p99 {p99 / max(b99, 0.1):.1f}x"
        )
    ok = missing == 0 and p50 <= 100 and p99 <= 500
    print(f"targets (p50 <= 100 ms, p99 <= 500 ms): {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
